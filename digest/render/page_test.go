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

// With the archive on, an email links to its issue page: "View in
// browser", the "more on the web" links (the page cuts nothing) and the
// articles without a URL of their own, at their anchor. The URL is set
// once per issue, after rendering; before (a dry run) the links fall back
// to the base URL; with the archive off there is no "View in browser".
func TestIssueLinksInEmail(t *testing.T) {
	d := fixtureDigest()
	d.Topics[1].Articles[0].URL = "file:///srv/notes/note.md" // shown
	noURL := d.Topics[1].Articles[0]
	extra := d.Topics[2].Articles[0]
	extra.ID, extra.Title = "extra", "An extra story to cut"
	d.Topics[1].Articles = append(d.Topics[1].Articles, extra) // cut
	r := newTestRenderer(t, func(o *Options) { o.IssueLinks = true; o.Newsletter.MaxPerTopic = 1 })
	rd, err := r.Render(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rd.Truncated {
		t.Fatal("fixture should be cut at one article per topic")
	}
	rd.SetIssueURL("https://news.example.org/archive/7")
	html, text := rd.Personalize(testRecipient)
	for _, want := range []string{">View in browser</a>", ">Read more on the web</a>", "1 more in Education on the web</a>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("html lacks %s", want)
		}
	}
	// View in browser, 1 more in Education, Read more on the web.
	if n := strings.Count(string(html), `href="https://news.example.org/archive/7"`); n != 3 {
		t.Errorf("%d links to the issue page, want 3", n)
	}
	if strings.Contains(string(html), "news.example.org/latest") {
		t.Error("a web link still goes to theme.web_url, not the issue page")
	}
	if !strings.Contains(string(html), `href="https://news.example.org/archive/7#`+anchor(noURL)+`"`) {
		t.Errorf("the article without a URL does not link to its anchor")
	}
	if !strings.Contains(string(text), "View in browser: https://news.example.org/archive/7") {
		t.Errorf("text lacks the View in browser line:\n%s", text)
	}

	unset, err := r.Render(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	html, _ = unset.Personalize(testRecipient)
	if !strings.Contains(string(html), `<a href="https://news.example.org" style="color:#1a5fb4">View in browser</a>`) {
		t.Error("without an issue URL, View in browser should fall back to the base URL")
	}

	off := newTestRenderer(t, nil)
	rd, err = off.Render(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	html, _ = rd.Personalize(testRecipient)
	if strings.Contains(string(html), "View in browser") {
		t.Error("archive off, yet the email links to the browser")
	}
}

// "More" stands for what no configured topic claims: the catch-all and the
// automatic topics.
func TestMoreTakesTheAutomaticTopics(t *testing.T) {
	r := newTestRenderer(t, nil)
	d := fixtureDigest()
	d.Topics[2].Auto = true // Sport, found by clustering
	rd, err := r.Render(d, []string{"more"})
	if err != nil {
		t.Fatal(err)
	}
	html, _ := rd.Personalize(testRecipient)
	for _, want := range []string{">Top stories</h2>", ">Sport</h2>", ">More</h2>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("a More reader misses %s", want)
		}
	}
	if strings.Contains(string(html), ">Education</h2>") {
		t.Error("a More reader gets a configured topic they did not choose")
	}
}
