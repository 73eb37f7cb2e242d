package collect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var fuzzExts = []string{".md", ".txt", ".html"}

func FuzzParseArticleFile(f *testing.F) {
	files, _ := filepath.Glob("testdata/articles/*")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for i, ext := range fuzzExts {
			if strings.HasSuffix(p, ext) {
				f.Add(uint8(i), data)
			}
		}
	}
	f.Add(uint8(0), []byte("---\ntitle: [\n---\n"))
	f.Add(uint8(0), []byte("+++\ndate = 1979-05-27T07:32:00-08:00\ntags = 3\n+++\n# H\n**b**"))
	f.Add(uint8(1), []byte("News\n\nT\n\nP\n\nFeb. 30, 2025\nImage of T\n\nAuthor A\n"))
	f.Add(uint8(2), []byte(`<script type="application/ld+json">[{"@type":["NewsArticle"],"author":[[]],"headline":5}]</script>`))
	mod := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, ext uint8, data []byte) {
		name := "fuzz" + fuzzExts[int(ext)%len(fuzzExts)]
		a, err := ParseArticleFile(name, data, mod, folderSource, Options{SummaryChars: 80})
		if err != nil {
			return
		}
		if a.Title == "" || a.ID == "" || a.URL == "" || a.Published.IsZero() {
			t.Fatalf("incomplete article: %+v", a)
		}
		if a.SourceName != folderSource.Name || a.Source == "" {
			t.Fatalf("source %q / %q", a.Source, a.SourceName)
		}
		for _, s := range []string{a.Title, a.Summary, a.Body, a.Author, a.Source} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8: %q", s)
			}
		}
		if utf8.RuneCountInString(a.Summary) > 80 {
			t.Fatalf("summary too long: %q", a.Summary)
		}
	})
}

func FuzzParseFeed(f *testing.F) {
	files, _ := filepath.Glob("testdata/feeds/*")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) <= 16<<10 { // small seeds keep each fuzz run quick
			f.Add(data)
		}
	}
	f.Add([]byte(`<rss version="2.0"><channel><item><title>&amp;lt;b&amp;gt;x</title><link>//x</link></item></channel></rss>`))
	f.Add([]byte(`{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","content_html":"<p>x"}]}`))
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="html">&lt;![CDATA[a]]&gt;</title></entry>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		arts, err := ParseFeed(data, "https://example.org/feed", feedSource, Options{SummaryChars: 80, Now: func() time.Time { return fixedNow }})
		if err != nil && !strings.HasPrefix(err.Error(), "feed: ") {
			t.Fatalf("error without prefix: %v", err)
		}
		for _, a := range arts {
			if a.Title == "" || a.ID == "" || a.Published.IsZero() {
				t.Fatalf("incomplete article: %+v", a)
			}
			if !utf8.ValidString(a.Title) || !utf8.ValidString(a.Summary) || !utf8.ValidString(a.Body) {
				t.Fatalf("invalid UTF-8 in %+v", a)
			}
			if utf8.RuneCountInString(a.Summary) > 80 {
				t.Fatalf("summary too long: %q", a.Summary)
			}
		}
	})
}
