package render

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/config"
)

var fixedNow = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

func testOptions() Options {
	c := config.Default()
	c.Newsletter.Title = "The Region Brief"
	c.Newsletter.Description = "What happened in the region this week, from local and national outlets."
	c.Newsletter.BaseURL = "https://news.example.org"
	c.Newsletter.PostalAddress = "1 Example Street, 10115 City"
	c.Theme.LogoURL = "https://news.example.org/logo.png"
	c.Theme.LogoAlt = "The Region Brief logo"
	c.Theme.FooterText = "Written by volunteers. Reply to this email to reach the editors."
	c.Theme.WebURL = "https://news.example.org/latest"
	return Options{Newsletter: c.Newsletter, Theme: c.Theme, Now: func() time.Time { return fixedNow }}
}

func newTestRenderer(t testing.TB, mod func(*Options)) *Renderer {
	t.Helper()
	o := testOptions()
	if mod != nil {
		mod(&o)
	}
	r, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

var testRecipient = Recipient{
	Name:           "Ana Lima",
	Email:          "ana@example.org",
	UnsubscribeURL: "https://news.example.org/unsubscribe?token=abc.def&x=1",
	PreferencesURL: "https://news.example.org/preferences?token=abc.def",
}

// fixtureDigest is a small, fixed issue: top stories, two rule topics, the
// catch-all "More", an article with "Also in" links, one without a date or
// author, and a summary carrying markup that must come out as text.
func fixtureDigest() *digest.Digest {
	at := func(h int) time.Time { return fixedNow.Add(-time.Duration(h) * time.Hour) }
	flood := digest.Article{
		ID: "a1", Title: "River levels fall after a week of flooding in the valley",
		URL: "https://valley-news.example/floods-recede", Source: "Valley News",
		Author: "Maria Costa", Published: at(5),
		Summary: "Water levels on the river dropped below the warning mark on Tuesday for the first time in eight days, and the regional authority said roads to the northern villages would reopen by the weekend once engineers had checked the bridges.",
		Also: []digest.Also{
			{Source: "The Courier", URL: "https://courier.example/2026/11/floods"},
			{Source: "Radio North", URL: "https://radionorth.example/news/river"},
		},
	}
	council := digest.Article{
		ID: "a2", Title: "Council approves the new tram line budget", URL: "https://courier.example/2026/11/tram",
		Source: "The Courier", Author: "Jon Park", Published: at(20),
		Summary: "The vote passed 31 to 12 after a four-hour debate.",
	}
	school := digest.Article{
		ID: "a3", Title: "Schools to open libraries on Saturdays", URL: "https://valley-news.example/libraries",
		Source: "Valley News", Published: at(30),
		Summary: "A pilot in six schools starts in January.",
	}
	match := digest.Article{
		ID: "a4", Title: "Home side wins the derby 2–1 in the last minute", URL: "https://sport.example/derby",
		Source: "Sport Daily", Author: "Lee Wong", Published: at(10),
		Summary: "A header in stoppage time settled it.",
	}
	xss := digest.Article{
		ID: "a5", Title: "Markup <b>in</b> a title & more", URL: "https://notes.example/markup",
		Source:  "Local notes",
		Summary: `Feeds sometimes carry <script>alert("x")</script> in their text; it must show as text.`,
	}
	return &digest.Digest{
		Title: "The Region Brief", Edition: "weekly", From: at(168), To: fixedNow,
		Top: []digest.Article{flood},
		Topics: []digest.Topic{
			{Name: "Politics", Articles: []digest.Article{flood, council}},
			{Name: "Education", Articles: []digest.Article{school}},
			{Name: "Sport", Articles: []digest.Article{match}},
			{Name: "More", Articles: []digest.Article{xss}},
		},
	}
}

// bigDigest has n articles with long summaries over six topics.
func bigDigest(n int) *digest.Digest {
	d := &digest.Digest{Title: "The Region Brief", To: fixedNow}
	names := []string{"Politics", "Economy", "Health", "Culture", "Sport", "More"}
	long := strings.Repeat("This long summary goes on about the details of the story, quoting officials and residents at length. ", 6)
	for i := 0; i < n; i++ {
		a := digest.Article{
			ID:        fmt.Sprintf("big-%d", i),
			Title:     fmt.Sprintf("Story number %d with a headline of a realistic length for a news site", i),
			URL:       fmt.Sprintf("https://outlet%d.example/2026/11/25/story-number-%d-with-a-long-slug", i%7, i),
			Source:    fmt.Sprintf("Outlet %d", i%7),
			Author:    "Some Reporter",
			Published: fixedNow.Add(-time.Duration(i) * time.Hour),
			Summary:   long,
			Also:      []digest.Also{{Source: "Other Outlet", URL: fmt.Sprintf("https://other.example/%d", i)}},
		}
		ti := i % len(names)
		for len(d.Topics) <= ti {
			d.Topics = append(d.Topics, digest.Topic{Name: names[len(d.Topics)]})
		}
		d.Topics[ti].Articles = append(d.Topics[ti].Articles, a)
		if i < 3 {
			d.Top = append(d.Top, a)
		}
	}
	return d
}
