package feedparse

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/digest-newsletter/digest/internal/testenv"
)

// BenchmarkParseRealFeeds parses the 40 real-world feeds of the shared test
// data and reports the cost per feed item:
//
//	go test -run '^$' -bench ParseRealFeeds -count 3 ./digest/collect/feedparse
func BenchmarkParseRealFeeds(b *testing.B) {
	// The real-world feed set of the shared test data; the GPL captures
	// are read in place, never copied.
	dir := testenv.Shared(b, "testdata/feeds")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		b.Fatalf("no feeds in %s", dir)
	}
	type feed struct {
		name string
		data []byte
	}
	var feeds []feed
	for _, f := range files {
		if filepath.Ext(f) != ".xml" && filepath.Ext(f) != ".json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		feeds = append(feeds, feed{filepath.Base(f), data})
	}
	items := 0
	for _, f := range feeds {
		arts, _ := Parse(f.data, "https://example.org/feed", testOpts)
		items += len(arts)
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		for _, f := range feeds {
			_, _ = Parse(f.data, "https://example.org/feed", testOpts)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(b.N * items)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/item")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/item")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/item")
	b.ReportMetric(float64(items), "items")
}
