package render

import (
	"strings"
	"testing"
)

var testPageLinks = PageLinks{
	Issue:     "https://news.example.org/archive/7",
	Archive:   "https://news.example.org/archive",
	Atom:      "https://news.example.org/archive/feed.atom",
	JSON:      "https://news.example.org/archive/feed.json",
	Subscribe: "https://news.example.org/",
}

// The issue page is the email for nobody in particular: every article
// (even with max_per_topic = 1, nothing is cut), the feeds and OpenGraph
// tags in the head, and no greeting, address or personal link.
func TestRenderPage(t *testing.T) {
	r := newTestRenderer(t, func(o *Options) { o.Newsletter.MaxPerTopic = 1 })
	d := fixtureDigest()
	p, err := r.RenderPage(d, testPageLinks)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "page.html", p.HTML)
	html := string(p.HTML)
	for _, tp := range d.Topics {
		for _, a := range tp.Articles {
			if !strings.Contains(html, htmlEscape(a.Title)) {
				t.Errorf("page lacks %q", a.Title)
			}
			if !strings.Contains(string(p.Content), htmlEscape(a.Title)) {
				t.Errorf("feed content lacks %q", a.Title)
			}
			if !strings.Contains(html, `id="`+anchor(a)+`"`) {
				t.Errorf("page lacks the anchor of %q", a.Title)
			}
		}
	}
	for _, want := range []string{
		`<link rel="alternate" type="application/atom+xml"`,
		`<link rel="alternate" type="application/feed+json"`,
		`<meta property="og:title" content="` + htmlEscape(p.Subject) + `"`,
		`<meta property="og:url" content="https://news.example.org/archive/7"`,
		`<link rel="canonical" href="https://news.example.org/archive/7"`,
		"prefers-color-scheme: dark",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, personal := range []string{"Hi ", "token", "unsubscribe", "preferences", "sent to", "shortened", "more in"} {
		if strings.Contains(strings.ToLower(html), strings.ToLower(personal)) {
			t.Errorf("page contains %q", personal)
		}
	}
	if strings.Contains(string(p.Content), "<style") || strings.Contains(string(p.Content), "<table") {
		t.Error("feed content carries layout")
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
