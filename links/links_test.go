package links

import "testing"

// The archive's routes and URLs come from the same constants, so the
// server's patterns and the links in emails cannot drift apart.
func TestArchiveRoutes(t *testing.T) {
	b, err := NewBuilder("https://news.example.org/brief/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		b.URL(Archive):               "https://news.example.org/brief/archive",
		b.IssueURL(42):               "https://news.example.org/brief/archive/42",
		b.URL(ArchiveAtom):           "https://news.example.org/brief/archive/feed.atom",
		b.URL(ArchiveJSON):           "https://news.example.org/brief/archive/feed.json",
		Pattern("GET", ArchiveIssue): "GET /archive/{issue}",
		Pattern("GET", Archive):      "GET /archive",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
