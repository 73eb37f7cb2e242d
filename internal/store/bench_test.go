package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkImport imports 100k new subscribers per op into a fresh store
// and, as the baseline in the same run, adds 2k through AddSubscriber (one
// transaction each). Run: go test -run '^$' -bench Import -benchtime 1x ./internal/store/
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	const n = 100_000
	const baseN = 2_000
	var importDur, addDur time.Duration
	for i := range b.N {
		b.StopTimer()
		db, _ := openTest(b, sqliteBackend)
		b.StartTimer()
		k := 0
		start := time.Now()
		st, err := db.Import(ctx, func() (ImportRow, bool, error) {
			if k == n {
				return ImportRow{}, false, nil
			}
			k++
			r := ImportRow{Consent: ConsentEvent{Kind: ConsentImport, At: t0, Form: "import"}}
			r.Subscriber = Subscriber{Email: fmt.Sprintf("user%d-%07d@example.org", i, k), Name: "A Reader",
				Topics: []string{"Security", "Local"}, Edition: "weekly", Status: StatusConfirmed, Confirmed: t0, Created: t0}
			return r, true, nil
		}, keepExisting)
		importDur += time.Since(start)
		if err != nil || st.Added != n {
			b.Fatalf("Import: %+v %v", st, err)
		}
		b.StopTimer()
		start = time.Now()
		for j := range baseN {
			if _, _, err := db.AddSubscriber(ctx, Subscriber{Email: fmt.Sprintf("one%d@example.org", j),
				Name: "A Reader", Status: StatusConfirmed, Created: t0}); err != nil {
				b.Fatal(err)
			}
		}
		addDur += time.Since(start)
		b.StartTimer()
	}
	importRate := float64(n*b.N) / importDur.Seconds()
	addRate := float64(baseN*b.N) / addDur.Seconds()
	b.ReportMetric(importRate, "import-rows/s")
	b.ReportMetric(addRate, "add-rows/s")
	b.ReportMetric(importRate/addRate, "x-vs-one-tx-per-row")
}

// BenchmarkMarkDeliveries marks the same 2000 ledger rows per op in two
// ways: MarkDeliveries batches of 50 (what the sender does) and one
// transaction per row (the baseline), and reports the ratio.
// Run: go test -run '^$' -bench MarkDeliveries ./internal/store/
func BenchmarkMarkDeliveries(b *testing.B) {
	ctx := context.Background()
	db, _ := openTest(b, sqliteBackend)
	const n, batch = 2000, 50
	i := 0
	var rows []Subscriber
	for i = 1; i <= n; i++ {
		rows = append(rows, Subscriber{Email: fmt.Sprintf("m%d@example.org", i)})
	}
	if _, err := db.Import(ctx, rowsOf(rows, t0), keepExisting); err != nil {
		b.Fatal(err)
	}
	is, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0}, "weekly")
	if err != nil {
		b.Fatal(err)
	}
	var ids []int64
	claimed, err := db.ClaimDeliveries(ctx, is.ID, "bench", n, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range claimed {
		ids = append(ids, d.ID)
	}
	attempt := 0
	// failed_temp with a growing attempt count so every mark really writes
	// (a row once sent is never rewritten).
	marks := func(from, to int) []Mark {
		attempt++
		ms := make([]Mark, 0, to-from)
		for _, id := range ids[from:to] {
			ms = append(ms, Mark{DeliveryID: id, Status: DeliveryFailedTemp, Error: "451 4.7.1 try later", Attempts: attempt, At: t0})
		}
		return ms
	}
	var batched, single time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		for from := 0; from < n; from += batch {
			if err := db.MarkDeliveries(ctx, marks(from, from+batch)); err != nil {
				b.Fatal(err)
			}
		}
		batched += time.Since(start)
		start = time.Now()
		for j := range n {
			if err := db.MarkDeliveries(ctx, marks(j, j+1)); err != nil {
				b.Fatal(err)
			}
		}
		single += time.Since(start)
	}
	b.StopTimer()
	bRate := float64(n*b.N) / batched.Seconds()
	sRate := float64(n*b.N) / single.Seconds()
	b.ReportMetric(bRate, "batched-rows/s")
	b.ReportMetric(sRate, "single-rows/s")
	b.ReportMetric(bRate/sRate, "x-batched-vs-single")
}

// BenchmarkLedger measures what a send of 100k recipients costs the store:
// CreateIssue (one INSERT ... SELECT) and claims of 256 rows, each marked
// sent in batches of 64, as the delivery engine does.
// Run: go test -run '^$' -bench Ledger -benchtime 1x ./internal/store/
func BenchmarkLedger(b *testing.B) {
	ctx := context.Background()
	db, _ := openTest(b, sqliteBackend)
	const n = 100_000
	if _, err := db.w.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO subscribers (email, status, created) SELECT printf('l%07d@example.org', i), 'confirmed', 0 FROM seq`, n); err != nil {
		b.Fatal(err)
	}
	var create, walk time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		is, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Slot: t0.Add(time.Duration(i) * time.Hour), Created: t0}, "weekly")
		if err != nil {
			b.Fatal(err)
		}
		create += time.Since(start)
		start = time.Now()
		var marks []Mark
		for {
			now := time.Now()
			rows, err := db.ClaimDeliveries(ctx, is.ID, "bench", 256, now, now.Add(time.Minute))
			if err != nil {
				b.Fatal(err)
			}
			if len(rows) == 0 {
				break
			}
			for _, d := range rows {
				marks = append(marks, Mark{DeliveryID: d.ID, Status: DeliverySent, Attempts: 1, At: t0})
				if len(marks) == 64 {
					if err := db.MarkDeliveries(ctx, marks); err != nil {
						b.Fatal(err)
					}
					marks = marks[:0]
				}
			}
			if err := db.MarkDeliveries(ctx, marks); err != nil {
				b.Fatal(err)
			}
			marks = marks[:0]
		}
		walk += time.Since(start)
		if c, _ := db.IssueCounts(ctx, is.ID); c.Sent != n {
			b.Fatalf("sent %d of %d", c.Sent, n)
		}
		if err := db.FinishIssue(ctx, is.ID, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(create.Seconds()/float64(b.N), "create-issue-s")
	b.ReportMetric(float64(n*b.N)/walk.Seconds(), "claim+mark-rows/s")
}
