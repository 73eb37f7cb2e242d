package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestRateWindow(t *testing.T) { forEachBackend(t, testRateWindow) }

func testRateWindow(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	hit := func(key string, at time.Time) (int64, time.Time) {
		t.Helper()
		n, ends, err := db.HitRateWindow(ctx, key, at, time.Minute)
		if err != nil {
			t.Fatalf("HitRateWindow(%s): %v", key, err)
		}
		return n, ends
	}
	for i := int64(1); i <= 3; i++ {
		// The window starts at the first hit and does not slide.
		if n, ends := hit("a", t0.Add(time.Duration(i)*time.Second)); n != i || !ends.Equal(t0.Add(time.Second+time.Minute)) {
			t.Fatalf("hit %d: n=%d ends=%v", i, n, ends)
		}
	}
	if n, _ := hit("b", t0.Add(5*time.Second)); n != 1 {
		t.Fatalf("another key shares the count: n=%d", n)
	}
	// At its end the window is over: the next hit starts a new one.
	end := t0.Add(time.Second + time.Minute)
	if n, ends := hit("a", end); n != 1 || !ends.Equal(end.Add(time.Minute)) {
		t.Fatalf("after the window: n=%d ends=%v", n, ends)
	}
	if _, _, err := db.HitRateWindow(ctx, "", t0, time.Minute); err == nil {
		t.Fatal("empty key accepted")
	}
}

// TestRateWindowAcrossHandles: two handles on one store (two processes, in
// effect), hitting one key at once, count every hit exactly once: the
// counts handed out are 1…N with no gap and no repeat.
func TestRateWindowAcrossHandles(t *testing.T) { forEachBackend(t, testRateWindowAcrossHandles) }

func testRateWindowAcrossHandles(t *testing.T, be backend) {
	ctx := context.Background()
	db, opts := openTest(t, be)
	db2 := openAgain(t, opts)
	const workers, each = 8, 10
	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	for w := range workers {
		h := db
		if w%2 == 1 {
			h = db2
		}
		wg.Go(func() {
			for range each {
				n, _, err := h.HitRateWindow(ctx, "shared", t0, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("counts %v: want 1…%d each once", got, workers*each)
		}
	}
	if len(got) != workers*each {
		t.Fatalf("%d counts, want %d", len(got), workers*each)
	}
}

// TestRateWindowPruneBounded: a flood of distinct keys, pruned every
// pruneEvery hits as the sign-up throttle does, leaves the table with the
// keys of the last window and at most pruneEvery more; pruning changes no
// live count.
func TestRateWindowPruneBounded(t *testing.T) { forEachBackend(t, testRateWindowPruneBounded) }

func testRateWindowPruneBounded(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	const (
		window     = time.Minute
		perSecond  = 5 // distinct new keys a second: 300 live in a window
		pruneEvery = 100
	)
	keys := 1500
	if raceEnabled {
		keys = 700
	}
	count := func() int {
		t.Helper()
		var n int
		if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM rate_windows").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	now, most := t0, 0
	for i := range keys {
		now = t0.Add(time.Duration(i) * time.Second / perSecond)
		if _, _, err := db.HitRateWindow(ctx, fmt.Sprint("flood ", i), now, window); err != nil {
			t.Fatal(err)
		}
		if (i+1)%pruneEvery == 0 {
			if _, err := db.PruneRateWindows(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
		most = max(most, count())
	}
	live := int(window.Seconds()) * perSecond
	if most > live+pruneEvery {
		t.Fatalf("table reached %d rows, over the %d live keys + %d between prunes", most, live, pruneEvery)
	}
	if most < live {
		t.Fatalf("table peaked at %d rows, fewer than the %d live keys: pruned live windows", most, live)
	}
	// The newest key still counts on after a prune.
	if _, err := db.PruneRateWindows(ctx, now); err != nil {
		t.Fatal(err)
	}
	if n, _, err := db.HitRateWindow(ctx, fmt.Sprint("flood ", keys-1), now, window); err != nil || n != 2 {
		t.Fatalf("live key after prune: n=%d, %v; want 2", n, err)
	}
	// Once every window has ended, a prune empties the table.
	n, err := db.PruneRateWindows(ctx, now.Add(window))
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || count() != 0 {
		t.Fatalf("prune after every window ended removed %d, %d left", n, count())
	}
}

// BenchmarkRateWindow counts 2000 hits per op from 8 goroutines (sign-ups
// of distinct clients on a busy web tier) in two ways: HitRateWindow's
// single statement, and as the baseline in the same run the same
// statement inside the store's serialising write transaction (db.write),
// and reports the ratio. Run:
// go test -run '^$' -bench RateWindow -benchtime 3x ./internal/store/
func BenchmarkRateWindow(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			db, _ := openTest(b, be)
			const workers, each = 8, 250
			run := func(op int, hit func(key string) error) time.Duration {
				start := time.Now()
				var wg sync.WaitGroup
				for w := range workers {
					wg.Go(func() {
						for k := range each {
							if err := hit(fmt.Sprintf("bench %d %d %d", op, w, k)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return time.Since(start)
			}
			var single, serial time.Duration
			for op := range b.N {
				single += run(2*op, func(key string) error {
					_, _, err := db.HitRateWindow(ctx, key, t0, time.Minute)
					return err
				})
				b.StopTimer()
				serial += run(2*op+1, func(key string) error {
					return db.write(ctx, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, `INSERT INTO rate_windows (key, n, ends) VALUES (?, 1, ?)
							ON CONFLICT (key) DO UPDATE SET n = rate_windows.n + 1`, key, nanos(t0.Add(time.Minute)))
						return err
					})
				})
				b.StartTimer()
			}
			hits := float64(workers * each * b.N)
			b.ReportMetric(hits/single.Seconds(), "statement-hits/s")
			b.ReportMetric(hits/serial.Seconds(), "write-tx-hits/s")
			b.ReportMetric(serial.Seconds()/single.Seconds(), "x-statement-vs-write-tx")
		})
	}
}
