package render

import (
	"testing"
	"time"
)

// BenchmarkRender is one Render of a 60-article digest: templates plus CSS
// inlining, what runs once per issue and topic set.
func BenchmarkRender(b *testing.B) {
	r := newTestRenderer(b, nil)
	d := bigDigest(60)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(d, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPersonalize is one recipient's copy of the same issue. It also
// times a few Renders in the same run as its baseline and reports how many
// times cheaper a recipient is than a render (render/personalize).
func BenchmarkPersonalize(b *testing.B) {
	r := newTestRenderer(b, nil)
	d := bigDigest(60)
	const baseRuns = 10
	start := time.Now()
	var rd *Rendered
	for range baseRuns {
		var err error
		if rd, err = r.Render(d, nil); err != nil {
			b.Fatal(err)
		}
	}
	renderNs := float64(time.Since(start).Nanoseconds()) / baseRuns
	p := Recipient{
		Name:           `Ana "A&B" Lima`,
		Email:          "ana@example.org",
		UnsubscribeURL: "https://news.example.org/unsubscribe?token=eyJzIjoxMjM0NTY3OH0.c2lnbmF0dXJlLXN0YW5kLWlu",
		PreferencesURL: "https://news.example.org/preferences?token=eyJzIjoxMjM0NTY3OH0.c2lnbmF0dXJlLXN0YW5kLWlu",
	}
	b.ReportAllocs()
	b.ResetTimer()
	start = time.Now()
	n := 0
	for b.Loop() {
		html, text := rd.Personalize(p)
		if len(html) == 0 || len(text) == 0 {
			b.Fatal("empty output")
		}
		n++
	}
	perNs := float64(time.Since(start).Nanoseconds()) / float64(n)
	b.ReportMetric(renderNs, "render-ns/op")
	b.ReportMetric(renderNs/perNs, "render/personalize")
}

// BenchmarkValues is what a sender that lays out each rendering once
// does per recipient: the slot values alone, no copy of the bodies.
func BenchmarkValues(b *testing.B) {
	r := newTestRenderer(b, nil)
	rd, err := r.Render(bigDigest(60), nil)
	if err != nil {
		b.Fatal(err)
	}
	p := Recipient{Name: `Ana "A&B" Lima`, Email: "ana@example.org", UnsubscribeURL: "https://news.example.org/u?t=1", PreferencesURL: "https://news.example.org/p?t=1"}
	b.ReportAllocs()
	for b.Loop() {
		if html, text := rd.Values(p); html[1] == "" || text[1] == "" {
			b.Fatal("no name")
		}
	}
}
