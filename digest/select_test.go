package digest

import (
	"testing"
	"time"
)

func TestCanonicalURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTPS://Example.ORG/News/Story/", "https://example.org/News/Story"},
		{"https://example.org:443/a?utm_source=rss&utm_medium=feed&id=3", "https://example.org/a?id=3"},
		{"http://example.org:80/a#comments", "http://example.org/a"},
		{"https://www.bbc.co.uk/news/world-60985339?at_medium=RSS&at_campaign=KARANGA", "https://www.bbc.co.uk/news/world-60985339"},
		{"https://example.org/a?b=2&a=1&fbclid=xyz", "https://example.org/a?a=1&b=2"},
		{"https://example.org/", "https://example.org"},
		{"https://example.org", "https://example.org"},
		{"https://example.org:8443/x/", "https://example.org:8443/x"},
		{"https://example.org/a//b/../c", "https://example.org/a/c"},
		{"https://user:pw@example.org/x", "https://example.org/x"},
		{"not a url", "not a url"},
		{"/relative/path", "/relative/path"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := CanonicalURL(tt.in); got != tt.want {
				t.Fatalf("CanonicalURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	base := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	in := []Article{
		{ID: "g1", Title: "old", URL: "https://a.org/old", Published: at(-48)},
		{ID: "g2", Title: "kept", URL: "https://a.org/kept?utm_source=x", Published: at(1)},
		{ID: "g3", Title: "same url, more text", URL: "http://A.org/kept/#top", Published: at(2), Body: NewText("a longer body")},
		{ID: "g2", Title: "same guid", URL: "https://other.org/y", Published: at(3)},
		{ID: "g4", Title: "seen before", URL: "https://a.org/seen", Published: at(4)},
		{ID: "g5", Title: "future", URL: "https://a.org/future", Published: at(100)},
		{ID: "g6", Title: "newest", URL: "https://a.org/new", Published: at(5)},
	}
	got := Select(in, SelectOptions{From: at(-24), To: at(24), Seen: func(id string) bool { return id == "g4" }})
	var titles []string
	for _, a := range got {
		titles = append(titles, a.Title)
	}
	want := []string{"newest", "same url, more text"}
	if len(titles) != len(want) {
		t.Fatalf("got %q, want %q", titles, want)
	}
	for i := range want {
		if titles[i] != want[i] {
			t.Fatalf("got %q, want %q", titles, want)
		}
	}
}

func TestSelectSeenByURL(t *testing.T) {
	sent := Article{ID: "g1", URL: "https://a.org/story", Also: []Also{{Source: "B", URL: "https://b.org/same?utm_medium=rss"}}}
	keys := map[string]bool{}
	for _, k := range SeenKeys(sent) {
		keys[k] = true
	}
	later := []Article{
		{ID: "new-guid", URL: "http://A.org/story/"}, // same article, new GUID
		{ID: "b-guid", URL: "https://b.org/same"},    // the other outlet's report
		{ID: "fresh", URL: "https://c.org/fresh"},    // new
	}
	got := Select(later, SelectOptions{Seen: func(k string) bool { return keys[k] }})
	if len(got) != 1 || got[0].ID != "fresh" {
		t.Fatalf("got %+v", got)
	}
}
