package collect

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
)

// BenchmarkCollect500 collects 500 feeds from a local server that answers
// each request after 20 ms, as a distant feed host would, once with one
// worker and once with the default concurrency, and reports the speed-up.
//
//	go test -run '^$' -bench Collect500 -benchtime 1x ./digest/collect
func BenchmarkCollect500(b *testing.B) {
	const (
		feeds   = 500
		latency = 20 * time.Millisecond
	)
	body := rssDoc("Bench", 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Simulated network latency, served from the handler so the
		// client's concurrency is what is measured.
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	sources := make([]config.Source, feeds)
	for i := range sources {
		sources[i] = config.Source{Name: fmt.Sprint("feed ", i), URL: fmt.Sprintf("%s/feed/%d.xml", srv.URL, i),
			Timeout: 30 * time.Second, MaxBytes: 1 << 20}
	}
	run := func(concurrency int) time.Duration {
		start := time.Now()
		res := Collect(context.Background(), sources, Options{Concurrency: concurrency})
		if len(res.Errors) != 0 || len(res.Articles) != feeds*10 {
			b.Fatalf("concurrency %d: %d articles, %d errors (first: %v)", concurrency, len(res.Articles), len(res.Errors), res.Errors[:min(1, len(res.Errors))])
		}
		return time.Since(start)
	}
	var serial, parallel time.Duration
	b.ResetTimer()
	for range b.N {
		serial += run(1)
		parallel += run(config.DefaultCollectWorkers)
	}
	b.StopTimer()
	b.ReportMetric(serial.Seconds()/float64(b.N), "s-serial/op")
	b.ReportMetric(parallel.Seconds()/float64(b.N), "s-concurrent/op")
	b.ReportMetric(float64(serial)/float64(parallel), "speedup")
}
