package feedparse

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/testenv"
)

var (
	fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	testOpts = Options{SourceName: "Test feed", SummaryChars: 200, Now: fixedNow}
	markup   = regexp.MustCompile(`<[a-zA-Z/!]`)
	entity   = regexp.MustCompile(`&(#\d+|#x[0-9a-fA-F]+|[a-z]+);`)
)

// checkArticles asserts what must hold for every article from any feed.
func checkArticles(t *testing.T, arts []digest.Article) {
	t.Helper()
	ids := map[string]int{}
	for i, a := range arts {
		if a.Title == "" || a.ID == "" {
			t.Errorf("item %d: empty title or ID: %+v", i, a)
		}
		if a.SourceName != testOpts.SourceName || a.Source == "" {
			t.Errorf("item %d: Source %q SourceName %q", i, a.Source, a.SourceName)
		}
		for _, s := range []string{a.Title, a.Summary, a.Body.String(), a.Author} {
			if !utf8.ValidString(s) {
				t.Errorf("item %d: invalid UTF-8 in %q", i, s)
			}
		}
		if markup.MatchString(a.Title) {
			t.Errorf("item %d: markup left in title %q", i, a.Title)
		}
		if entity.MatchString(a.Title) {
			t.Errorf("item %d: entity left in title %q", i, a.Title)
		}
		if n := utf8.RuneCountInString(a.Summary); n > testOpts.SummaryChars {
			t.Errorf("item %d: summary has %d runes", i, n)
		}
		if a.URL != "" && !strings.Contains(a.URL, "://") {
			t.Errorf("item %d: URL %q not absolute", i, a.URL)
		}
		if a.ImageURL != "" && !IsHTTPURL(a.ImageURL) {
			t.Errorf("item %d: image %q is not http(s)", i, a.ImageURL)
		}
		if a.Published.IsZero() {
			t.Errorf("item %d: no date", i)
		}
		ids[a.ID]++
	}
}

func readFeed(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func titles(arts []digest.Article) []string {
	out := make([]string, len(arts))
	for i, a := range arts {
		out[i] = a.Title
	}
	return out
}

func hasTitle(arts []digest.Article, want string) bool {
	for _, a := range arts {
		if a.Title == want {
			return true
		}
	}
	return false
}

// TestParseFeedFixtures covers the feeds copied into testdata (none of the
// GPL ones).
func TestParseFeedFixtures(t *testing.T) {
	tests := []struct {
		file    string
		items   int
		errHas  string // "" = no error
		feedURL string
		check   func(t *testing.T, arts []digest.Article)
	}{
		{file: "rss2-news-golem-iso-8859-1.xml", items: 40, check: func(t *testing.T, arts []digest.Article) {
			if !hasTitle(arts, "Let's Play: Twitch will Streamer zusammen spielen und singen lassen") {
				t.Errorf("titles: %q", titles(arts)[:3])
			}
			if !strings.Contains(arts[0].Summary, "wünschen") {
				t.Errorf("umlauts lost: %q", arts[0].Summary)
			}
		}},
		{file: "rss2-news-bbc-urdu-rtl.xml", items: 26},
		{file: "rss2-news-livemint-html-in-title.xml", items: 25, check: func(t *testing.T, arts []digest.Article) {
			if !hasTitle(arts, "SmartCity Kochi to raise ₹4,000 crore from investors") {
				t.Errorf("HTML title not cleaned: %q", titles(arts))
			}
		}},
		{file: "rss2-hackernews-newest-near-duplicates.xml", items: 20},
		{file: "rss2-medium-emarley.xml", items: 10},
		{file: "rss2-scriptingnews-untitled-items.xml", items: 50, check: func(t *testing.T, arts []digest.Article) {
			for _, a := range arts {
				if a.Title == "(untitled)" || utf8.RuneCountInString(a.Title) > 91 {
					t.Errorf("derived title %q", a.Title)
				}
			}
		}},
		{file: "rss2-macworld-no-guids-no-declaration.xml", items: 30, check: func(t *testing.T, arts []digest.Article) {
			seen := map[string]bool{}
			for _, a := range arts {
				if a.GUID != "" || a.ID != digest.CanonicalURL(a.URL) || strings.Contains(a.ID, "#") {
					t.Errorf("ID %q for URL %q, want the canonical URL", a.ID, a.URL)
				}
				if seen[a.ID] {
					t.Errorf("duplicate ID %q", a.ID)
				}
				seen[a.ID] = true
			}
		}},
		{file: "rss2-podcast-atp.xml", items: 100, check: func(t *testing.T, arts []digest.Article) {
			for _, a := range arts {
				if a.Summary == "" || a.Body.Blank() {
					t.Errorf("%q: empty summary/body despite a description", a.Title)
				}
				if strings.HasSuffix(a.ImageURL, ".mp3") {
					t.Errorf("audio enclosure taken as image: %q", a.ImageURL)
				}
			}
		}},
		{file: "atom-onefoottsunami-html-entity-titles.xml", items: 25, check: func(t *testing.T, arts []digest.Article) {
			if !hasTitle(arts, "Link: Pillow Fight Leaves 24 Concussed") {
				t.Errorf("titles: %q", titles(arts))
			}
			n := 0
			for _, a := range arts {
				if strings.Contains(a.Title, "’") {
					n++
				}
			}
			if n == 0 {
				t.Errorf("no title has a decoded &#8217;: %q", titles(arts))
			}
		}},
		{file: "atom-dustri-blog.xml", items: 25},
		{file: "rss2-dustri-blog-same-as-atom.xml", items: 25},
		{file: "atom-movabletype-touchnokia-russian-css.xml", items: 15, check: func(t *testing.T, arts []digest.Article) {
			for _, a := range arts {
				if strings.Contains(a.Body.String(), "style=") || strings.Contains(a.Body.String(), "font-") {
					t.Errorf("CSS leaked into body of %q", a.Title)
				}
			}
		}},
		{file: "rss2-ibash-windows-1251.xml", items: 50, check: func(t *testing.T, arts []digest.Article) {
			if arts[0].Title != "Цитата #17703" {
				t.Errorf("title %q", arts[0].Title)
			}
		}},
		{file: "rss2-kc0011-gb2312.xml", items: 20, check: func(t *testing.T, arts []digest.Article) {
			if arts[0].Title != "建国35周年纪念，华表，和平鸽" {
				t.Errorf("title %q", arts[0].Title)
			}
		}},
		{file: "rss2-donthitsave-utf8-bom.xml", items: 10},
		{file: "rss10-rdf-biorxiv.xml", items: 30},
		{file: "rss090-rdf-heise-no-dates.xml", items: 60, check: func(t *testing.T, arts []digest.Article) {
			for _, a := range arts {
				if !a.Published.Equal(fixedNow) {
					t.Errorf("undated item %q got %v, want the fetch time", a.Title, a.Published)
				}
			}
		}},
		{file: "illformed-rss2-cerclepsy-latin1-undeclared.xml", items: 10, check: func(t *testing.T, arts []digest.Article) {
			if arts[0].Title != "Perturbateurs endocriniens : quels effets sur le cerveau ?" {
				t.Errorf("title %q", arts[0].Title)
			}
			for _, a := range arts {
				if strings.ContainsRune(a.Title+a.Summary, utf8.RuneError) {
					t.Errorf("replacement character in %q", a.Title)
				}
			}
			if !strings.Contains(arts[0].Summary, "études") {
				t.Errorf("Latin-1 not decoded: %q", arts[0].Summary)
			}
		}},
		{file: "illformed-jsonfeed-truncated-allthis.json", items: 2, errHas: "truncated JSON"},
		// Only the final ">" is missing: closed, nothing lost, no error.
		{file: "illformed-unclosed-root.xml", items: 0},
		{file: "illformed-incomplete-cdata.xml", items: 0, errHas: "XML syntax error"},
		{file: "illformed-bogus-encoding-name.xml", items: 0},
		// A Latin-1 byte in UTF-8 and an unclosed root: both repaired.
		{file: "illformed-invalid-utf8-after-bom.xml", items: 0},
		{file: "jsonfeed-1.0-daringfireball.json", items: 48, check: func(t *testing.T, arts []digest.Article) {
			if arts[0].Author != "John Gruber" || arts[0].Source != "Test feed" {
				t.Errorf("author %q source %q", arts[0].Author, arts[0].Source)
			}
		}},
		{file: "jsonfeed-1.1-3960-journal.json", items: 20, check: func(t *testing.T, arts []digest.Article) {
			if len(arts[1].Categories) == 0 {
				t.Errorf("tags not mapped to categories")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			arts, err := Parse(readFeed(t, filepath.Join("testdata", "feeds", tt.file)), "https://example.org/feed.xml", testOpts)
			if tt.errHas == "" && err != nil {
				t.Fatalf("error: %v", err)
			}
			if tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.errHas)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "feed: ") {
				t.Errorf("error %q lacks the feed: prefix", err)
			}
			if len(arts) != tt.items {
				t.Fatalf("got %d items, want %d", len(arts), tt.items)
			}
			checkArticles(t, arts)
			if tt.check != nil {
				tt.check(t, arts)
			}
		})
	}
}

// TestAtomRSSParity: the same blog as Atom and as RSS gives the same
// articles.
func TestAtomRSSParity(t *testing.T) {
	atom, err := Parse(readFeed(t, "testdata/feeds/atom-dustri-blog.xml"), "", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	rss, err := Parse(readFeed(t, "testdata/feeds/rss2-dustri-blog-same-as-atom.xml"), "", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range atom {
		if atom[i].Title != rss[i].Title || atom[i].URL != rss[i].URL || !atom[i].Published.Equal(rss[i].Published) {
			t.Errorf("item %d: atom %q %q %v, rss %q %q %v", i, atom[i].Title, atom[i].URL, atom[i].Published, rss[i].Title, rss[i].URL, rss[i].Published)
		}
	}
}

// TestParseFeedSynthetic covers behaviours whose real captures are GPL
// and stay out of the repo.
func TestParseFeedSynthetic(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		url   string
		check func(t *testing.T, a digest.Article)
	}{
		{"relative link against channel link", `<rss version="2.0"><channel><title>FT</title><link>https://www.ft.com</link>
<item><title>A</title><link>/content/abc</link><guid isPermaLink="false">abc</guid></item></channel></rss>`,
			"https://feeds.example/ft.xml", func(t *testing.T, a digest.Article) {
				if a.URL != "https://www.ft.com/content/abc" || a.ID != "abc" {
					t.Errorf("URL %q ID %q", a.URL, a.ID)
				}
			}},
		{"relative link against feed URL", `<rss version="2.0"><channel><title>T</title>
<item><title>A</title><link>../posts/1.html</link></item></channel></rss>`,
			"https://blog.example/feeds/rss.xml", func(t *testing.T, a digest.Article) {
				if a.URL != "https://blog.example/posts/1.html" || a.ID != a.URL {
					t.Errorf("URL %q ID %q", a.URL, a.ID)
				}
			}},
		{"double-escaped entity", `<rss version="2.0"><channel><title>Sky</title>
<item><title>Cocaine worth &amp;#163;300m seized</title><link>https://news.example/1</link></item></channel></rss>`,
			"", func(t *testing.T, a digest.Article) {
				if a.Title != "Cocaine worth £300m seized" {
					t.Errorf("title %q", a.Title)
				}
			}},
		{"untitled item (Mastodon)", `<rss version="2.0"><channel><title>Eugen</title>
<item><description>&lt;p&gt;We shipped the new release today! It has polls, and more.&lt;/p&gt;</description><link>https://social.example/@e/1</link></item></channel></rss>`,
			"", func(t *testing.T, a digest.Article) {
				if a.Title != "We shipped the new release today!" {
					t.Errorf("title %q", a.Title)
				}
			}},
		{"untitled long sentence", `<rss version="2.0"><channel><title>S</title>
<item><description>` + strings.Repeat("word ", 60) + `</description></item></channel></rss>`,
			"", func(t *testing.T, a digest.Article) {
				if !strings.HasSuffix(a.Title, "…") || utf8.RuneCountInString(a.Title) > 90 {
					t.Errorf("title %q", a.Title)
				}
				if !strings.HasPrefix(a.ID, "sha256:") {
					t.Errorf("no GUID, no link: ID %q, want a hash", a.ID)
				}
			}},
		{"YouTube media:description and thumbnail", `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
<title>Channel</title><entry><id>yt:video:1</id><title>Episode 1</title><link rel="alternate" href="https://www.youtube.com/watch?v=1"/>
<published>2023-02-20T10:00:00+00:00</published>
<media:group><media:title>Episode 1</media:title><media:thumbnail url="https://i.ytimg.example/1.jpg" width="480" height="360"/>
<media:description>The crew sets sail.</media:description></media:group></entry></feed>`,
			"", func(t *testing.T, a digest.Article) {
				if a.Summary != "The crew sets sail." || a.Body.String() != "The crew sets sail." {
					t.Errorf("summary %q body %q", a.Summary, a.Body.String())
				}
				if a.ImageURL != "https://i.ytimg.example/1.jpg" {
					t.Errorf("image %q", a.ImageURL)
				}
				if a.Source != "Test feed" || a.Published.Year() != 2023 {
					t.Errorf("source %q published %v", a.Source, a.Published)
				}
			}},
		{"updated date when no published", `<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<entry><id>x</id><title>U</title><updated>2024-05-01T00:00:00Z</updated></entry></feed>`,
			"", func(t *testing.T, a digest.Article) {
				if !a.Published.Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("published %v", a.Published)
				}
			}},
		{"empty content falls back to description", `<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Pod</title>
<item><title>Ep</title><description>Show notes here.</description><content:encoded><![CDATA[]]></content:encoded>
<enclosure url="https://cdn.example/ep.mp3" type="audio/mpeg" length="1"/></item></channel></rss>`,
			"", func(t *testing.T, a digest.Article) {
				if a.Summary != "Show notes here." || a.ImageURL != "" {
					t.Errorf("summary %q image %q", a.Summary, a.ImageURL)
				}
			}},
		{"no feed title uses source name; javascript link dropped", `<rss version="2.0"><channel>
<item><title>T</title><link>javascript:alert(1)</link><category>Sport</category><category>sport</category></item></channel></rss>`,
			"", func(t *testing.T, a digest.Article) {
				if a.Source != testOpts.SourceName || a.URL != "" {
					t.Errorf("source %q URL %q", a.Source, a.URL)
				}
				if len(a.Categories) != 1 || a.Categories[0] != "Sport" {
					t.Errorf("categories %q", a.Categories)
				}
			}},
		{"declared windows-1252 with wrong bytes", "<?xml version=\"1.0\" encoding=\"windows-1252\"?><rss version=\"2.0\"><channel><title>W</title><item><title>Caf\xe9 \x93open\x94</title></item></channel></rss>",
			"", func(t *testing.T, a digest.Article) {
				if a.Title != "Café “open”" {
					t.Errorf("title %q", a.Title)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arts, err := Parse([]byte(tt.doc), tt.url, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			if len(arts) != 1 {
				t.Fatalf("got %d articles, want 1", len(arts))
			}
			checkArticles(t, arts)
			tt.check(t, arts[0])
		})
	}
}

// TestSharedFeeds parses every real-world feed in the shared test data,
// the GPL ones included, which are read in place and never copied: each
// parses or fails with a clear error, and none panics.
func TestSharedFeeds(t *testing.T) {
	dir := testenv.Shared(t, "testdata/feeds")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatalf("no feeds in %s", dir)
	}
	// Expectations for the GPL captures (counts from SOURCES.md).
	gpl := map[string]struct {
		items int
		check func(t *testing.T, arts []digest.Article)
	}{
		"rss2-news-guardian-uk.xml":                  {115, nil},
		"rss2-news-nytimes-homepage.xml":             {63, nil},
		"rss2-news-bbc-world-video.xml":              {67, nil},
		"rss2-news-telegraph-no-xml-declaration.xml": {100, nil},
		"rss2-news-huffpost-stray-meta-element.xml":  {50, nil},
		"rss2-news-skynews-double-escaped-entity.xml": {10, func(t *testing.T, arts []digest.Article) {
			n := 0
			for _, a := range arts {
				if strings.Contains(a.Title, "£300m") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("no title with a decoded £: %q", titles(arts))
			}
		}},
		"rss2-news-ft-relative-links.xml": {31, func(t *testing.T, arts []digest.Article) {
			for _, a := range arts {
				if !strings.HasPrefix(a.URL, "https://www.ft.com/content/") {
					t.Errorf("link %q not resolved against https://www.ft.com", a.URL)
				}
			}
		}},
		"atom-news-theverge-frontpage.xml": {10, nil},
		"rss2-wordpress-org-news.xml":      {30, nil},
		"rss2-mastodon-user-untitled-items.xml": {20, func(t *testing.T, arts []digest.Article) {
			if arts[0].Title != "mastodon.social is now entirely served from our new #Kubernetes cluster 🎉" {
				t.Errorf("derived title %q", arts[0].Title)
			}
		}},
		"atom-blogger-quiltville.xml": {25, nil},
		"atom-youtube-channel.xml": {15, func(t *testing.T, arts []digest.Article) {
			for _, a := range arts {
				if a.Summary == "" || !strings.HasPrefix(a.ImageURL, "https://") {
					t.Errorf("%q: summary %q image %q", a.Title, a.Summary, a.ImageURL)
				}
			}
		}},
		"atom-github-releases-hugo.xml":                {10, nil},
		"rss2-nodejs-vulns-snapshot1.xml":              {1, nil},
		"rss2-nodejs-vulns-snapshot2-item-updated.xml": {1, nil},
	}
	ok := 0
	var failed []string
	for _, f := range files {
		name := filepath.Base(f)
		if name == "SOURCES.md" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			arts, err := Parse(readFeed(t, f), "https://example.org/feed", testOpts)
			if err != nil {
				failed = append(failed, name+": "+err.Error())
				if !strings.HasPrefix(name, "illformed-") {
					t.Errorf("well-formed feed failed: %v", err)
				}
				if !strings.HasPrefix(err.Error(), "feed: ") || len(err.Error()) < 15 {
					t.Errorf("unclear error %q", err)
				}
			} else {
				ok++
			}
			checkArticles(t, arts)
			if want, isGPL := gpl[name]; isGPL {
				if len(arts) != want.items {
					t.Errorf("got %d items, want %d", len(arts), want.items)
				}
				if want.check != nil {
					want.check(t, arts)
				}
			}
		})
	}
	// gofeed alone reads 34 of the 40; recovery must do better. The two
	// left are cut off mid-document: their complete items are kept and
	// they are reported by name.
	if ok < 38 {
		t.Errorf("%d feeds parsed cleanly; want at least 38; failed:\n%s", ok, strings.Join(failed, "\n"))
	}
	t.Logf("%d of %d parsed cleanly; reported: %q", ok, ok+len(failed), failed)
}
