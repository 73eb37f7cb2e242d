package render

import (
	"time"

	"github.com/digest-newsletter/digest/digest"
)

// sampleDigest has every optional field filled in, so rendering it once in
// New runs every branch of the templates that real data can reach.
func sampleDigest(now time.Time) *digest.Digest {
	a := digest.Article{
		ID: "sample-1", Title: "Sample lead story", URL: "https://example.org/lead",
		Source: "Example Times", Author: "A. Writer", Published: now.Add(-2 * time.Hour),
		Summary: "A short summary of the lead story.",
		Also:    []digest.Also{{Source: "Other Outlet", URL: "https://example.net/lead", Title: "Lead"}},
	}
	b := digest.Article{
		ID: "sample-2", Title: "Second story", URL: "https://example.org/second",
		Source: "Example Times", Published: now.Add(-5 * time.Hour),
	}
	c := digest.Article{ID: "sample-3", Title: "Undated story", URL: "https://example.org/third", Source: "Notes"}
	return &digest.Digest{
		Title: "Sample", Edition: "weekly", From: now.Add(-168 * time.Hour), To: now,
		Top: []digest.Article{a},
		Topics: []digest.Topic{
			{Name: "World", Articles: []digest.Article{a, b}},
			{Name: "More", Articles: []digest.Article{c}},
		},
	}
}
