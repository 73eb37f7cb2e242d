package articlefile

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
		o := folderOpts
		o.SummaryChars = 80
		a, err := Parse(name, data, mod, o)
		if err != nil {
			return
		}
		if a.Title == "" || a.ID == "" || a.URL == "" || a.Published.IsZero() {
			t.Fatalf("incomplete article: %+v", a)
		}
		if a.SourceName != folderOpts.SourceName || a.Source == "" {
			t.Fatalf("source %q / %q", a.Source, a.SourceName)
		}
		for _, s := range []string{a.Title, a.Summary, a.Body.String(), a.Author, a.Source} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8: %q", s)
			}
		}
		if utf8.RuneCountInString(a.Summary) > 80 {
			t.Fatalf("summary too long: %q", a.Summary)
		}
	})
}
