package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestFeedState(t *testing.T) { forEachBackend(t, testFeedState) }

func testFeedState(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	const u = "https://example.org/feed.xml"
	steps := []struct {
		name, etag, lm string
	}{
		{"first", `"abc"`, "Mon, 02 Mar 2026 07:00:00 GMT"},
		{"replaced", `W/"def"`, ""},
		{"forgotten", "", ""},
	}
	weekly, daily := db.FeedStates("weekly"), db.FeedStates("daily")
	if e, l, err := weekly.FeedState(ctx, u); err != nil || e != "" || l != "" {
		t.Fatalf("unknown feed: %q %q %v", e, l, err)
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := weekly.SetFeedState(ctx, u, st.etag, st.lm); err != nil {
				t.Fatal(err)
			}
			// Another edition's fetch must not turn into a 304.
			if e, l, err := daily.FeedState(ctx, u); err != nil || e != "" || l != "" {
				t.Errorf("daily sees weekly's validators: %q %q %v", e, l, err)
			}
			e, l, err := weekly.FeedState(ctx, u)
			if err != nil || e != st.etag || l != st.lm {
				t.Errorf("FeedState = %q, %q, %v; want %q, %q", e, l, err, st.etag, st.lm)
			}
		})
	}
}

func markSeenForTest(ctx context.Context, db *DB, edition string, keys []string, issueID int64, at time.Time) error {
	return db.write(ctx, func(tx *sql.Tx) error { return markSeen(ctx, tx, edition, keys, issueID, at) })
}

func TestSeenArticles(t *testing.T) { forEachBackend(t, testSeenArticles) }

func testSeenArticles(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	is, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0}, "weekly")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 1200 { // more than one IN chunk
		ids = append(ids, fmt.Sprintf("https://example.org/a/%d", i))
	}
	if err := markSeenForTest(ctx, db, "weekly", ids[:700], is.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := markSeenForTest(ctx, db, "weekly", ids[600:650], 0, t0); err != nil { // already seen: no-op
		t.Fatal(err)
	}
	got, err := db.SeenArticles(ctx, "weekly", ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 700 {
		t.Errorf("%d seen, want 700", len(got))
	}
	if !got[ids[0]] || !got[ids[699]] || got[ids[700]] {
		t.Error("wrong ids seen")
	}
	var issueID int64
	if err := db.r.QueryRowContext(ctx, "SELECT issue_id FROM seen_articles WHERE edition = 'weekly' AND article_id = ?", ids[620]).Scan(&issueID); err != nil || issueID != is.ID {
		t.Errorf("re-marked article lost its first issue: %d %v", issueID, err)
	}
	if m, err := db.SeenArticles(ctx, "weekly", nil); err != nil || len(m) != 0 {
		t.Errorf("SeenArticles(nil) = %v, %v", m, err)
	}
	// Editions are independent: what weekly sent is new for daily.
	if m, err := db.SeenArticles(ctx, "daily", ids); err != nil || len(m) != 0 {
		t.Errorf("daily sees %d of weekly's articles (%v)", len(m), err)
	}
	// SeenSince reads by the time of recording.
	if err := markSeenForTest(ctx, db, "weekly", []string{"late"}, is.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if m, err := db.SeenSince(ctx, "weekly", t0.Add(time.Minute)); err != nil || len(m) != 1 || !m["late"] {
		t.Errorf("SeenSince = %v, %v", m, err)
	}
	if m, err := db.SeenSince(ctx, "weekly", t0); err != nil || len(m) != 701 {
		t.Errorf("SeenSince(t0) has %d keys (%v), want 701", len(m), err)
	}
}

func TestCreateIssueRecordsSeenKeys(t *testing.T) { forEachBackend(t, testCreateIssueRecordsSeenKeys) }

func testCreateIssueRecordsSeenKeys(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	is, err := db.CreateIssue(ctx, Issue{Edition: "daily", Created: t0, SeenKeys: []string{"a1", "url:example.org/1"}}, "weekly")
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.SeenArticles(ctx, "daily", []string{"a1", "url:example.org/1", "other"})
	if err != nil || len(m) != 2 {
		t.Fatalf("seen %v, %v", m, err)
	}
	if m, _ := db.SeenArticles(ctx, "weekly", []string{"a1"}); len(m) != 0 {
		t.Error("daily's article counts as seen for weekly")
	}
	var issueID int64
	db.r.QueryRowContext(ctx, "SELECT issue_id FROM seen_articles WHERE article_id = 'a1'").Scan(&issueID)
	if issueID != is.ID {
		t.Errorf("seen key recorded for issue %d, want %d", issueID, is.ID)
	}
}

func TestLeases(t *testing.T) { forEachBackend(t, testLeases) }

func testLeases(t *testing.T, be backend) {
	ctx := context.Background()
	db, opts := openTest(t, be)
	db2 := openAgain(t, opts)
	ttl := time.Minute
	steps := []struct {
		name   string
		h      *DB
		holder string
		now    time.Time
		want   bool
	}{
		{"a takes the free lease", db, "a", t0, true},
		{"b is refused", db2, "b", t0.Add(30 * time.Second), false},
		{"a renews", db, "a", t0.Add(50 * time.Second), true},
		{"b still refused after a's first term", db2, "b", t0.Add(90 * time.Second), false},
		{"b takes over once a's renewal expires", db2, "b", t0.Add(50*time.Second + ttl), true},
		{"a is refused now", db, "a", t0.Add(2 * time.Minute), false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := st.h.AcquireLease(ctx, "sender", st.holder, ttl, st.now)
			if err != nil {
				t.Fatal(err)
			}
			if got != st.want {
				t.Errorf("AcquireLease(%s) = %v, want %v", st.holder, got, st.want)
			}
		})
	}
	t.Run("release by a non-holder does nothing", func(t *testing.T) {
		if err := db.ReleaseLease(ctx, "sender", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.AcquireLease(ctx, "sender", "a", ttl, t0.Add(2*time.Minute)); ok {
			t.Error("a got the lease b holds")
		}
	})
	t.Run("release frees it at once", func(t *testing.T) {
		if err := db2.ReleaseLease(ctx, "sender", "b"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.AcquireLease(ctx, "sender", "a", ttl, t0.Add(2*time.Minute)); !ok {
			t.Error("a refused a released lease")
		}
	})
	t.Run("leases are independent", func(t *testing.T) {
		if ok, _ := db2.AcquireLease(ctx, "other", "b", ttl, t0); !ok {
			t.Error("b refused a different lease")
		}
	})
	t.Run("racing holders: one wins", func(t *testing.T) {
		var wg sync.WaitGroup
		wins := make([]bool, 8)
		for i := range wins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := []*DB{db, db2}[i%2]
				ok, err := h.AcquireLease(ctx, "race", fmt.Sprint("h", i), ttl, t0)
				if err != nil {
					t.Error(err)
				}
				wins[i] = ok
			}()
		}
		wg.Wait()
		n := 0
		for _, w := range wins {
			if w {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d holders got the lease", n)
		}
	})
}

func TestLastSlot(t *testing.T) { forEachBackend(t, testLastSlot) }

func testLastSlot(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	if _, ok, err := db.LastSlot(ctx, "weekly"); ok || err != nil {
		t.Fatalf("LastSlot of a new edition: %v %v", ok, err)
	}
	for _, s := range []time.Time{t0, t0.Add(7 * 24 * time.Hour), t0.Add(24 * time.Hour)} {
		if err := db.SetLastSlot(ctx, "weekly", s); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := db.LastSlot(ctx, "weekly")
	if err != nil || !ok || !got.Equal(t0.Add(7*24*time.Hour)) || got.Location() != time.UTC {
		t.Errorf("LastSlot = %v %v %v; want the latest slot, never rewound", got, ok, err)
	}
	if _, ok, _ := db.LastSlot(ctx, "daily"); ok {
		t.Error("editions share a slot")
	}
}

func TestInbound(t *testing.T) { forEachBackend(t, testInbound) }

func testInbound(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	key := "INBOX/1700000000/42"
	if done, err := db.InboundProcessed(ctx, key); err != nil || done {
		t.Fatalf("fresh key: %v %v", done, err)
	}
	if err := db.MarkInboundProcessed(ctx, key, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkInboundProcessed(ctx, key, t0); err != nil {
		t.Fatalf("second mark: %v", err)
	}
	if done, err := db.InboundProcessed(ctx, key); err != nil || !done {
		t.Fatalf("marked key: %v %v", done, err)
	}
	var mu sync.Mutex
	var claimed []int
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.ClaimInbound(ctx, "<abc@example.org>", t0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				claimed = append(claimed, i)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 1 {
		t.Errorf("claimed by %v, want exactly one", claimed)
	}
}

func TestPruneInbound(t *testing.T) { forEachBackend(t, testPruneInbound) }

func testPruneInbound(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	for i, k := range []string{"old1", "old2", "new"} {
		at := t0.Add(time.Duration(i) * time.Hour)
		if k == "new" {
			at = t0.Add(48 * time.Hour)
		}
		if err := db.MarkInboundProcessed(ctx, k, at); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.PruneInbound(ctx, t0.Add(24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	for k, want := range map[string]bool{"old1": false, "new": true} {
		if got, _ := db.InboundProcessed(ctx, k); got != want {
			t.Errorf("%s processed=%v, want %v", k, got, want)
		}
	}
}
