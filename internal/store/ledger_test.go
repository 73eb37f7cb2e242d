package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// newIssue imports n confirmed subscribers and freezes a weekly issue.
func newIssue(t testing.TB, db *DB, n int) Issue {
	t.Helper()
	ctx := context.Background()
	var rows []Subscriber
	for i := range n {
		rows = append(rows, Subscriber{Email: fmt.Sprintf("r%d@example.org", i)})
	}
	if _, err := db.Import(ctx, rowsOf(rows, t0), keepExisting); err != nil {
		t.Fatal(err)
	}
	is, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0}, "weekly")
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func TestClaimsWithMarksInterleaved(t *testing.T) { forEachBackend(t, testClaimsWithMarksInterleaved) }

func testClaimsWithMarksInterleaved(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	const n = 1037
	is := newIssue(t, db, n)
	// Unsubscribe one after the issue was made: its row comes back for the
	// caller to skip.
	gone, _ := db.SubscriberByEmail(ctx, "r5@example.org")
	if err := db.SetStatus(ctx, gone.ID, StatusUnsubscribed, t0); err != nil {
		t.Fatal(err)
	}

	// First pass: claim 100 at a time and mark in groups of 50, the way a
	// sender does; alternate outcomes.
	seen := map[int64]int{}
	var skipped, temp, perm, sent int
	now := time.Now()
	for {
		rows, err := db.ClaimDeliveries(ctx, is.ID, "a", 100, now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			break
		}
		var marks []Mark
		for _, d := range rows {
			seen[d.ID]++
			m := Mark{DeliveryID: d.ID, Attempts: d.Attempts + 1, At: t0}
			switch {
			case d.SubscriberStatus != StatusConfirmed:
				m.Status, m.Attempts = DeliverySkipped, d.Attempts
				skipped++
			case d.ID%10 == 0:
				m.Status, m.Error = DeliveryFailedTemp, "451 try later"
				temp++
			case d.ID%17 == 0:
				m.Status, m.Error = DeliveryFailedPerm, "550 no such user"
				perm++
			default:
				m.Status = DeliverySent
				sent++
			}
			marks = append(marks, m)
			if len(marks) == 50 {
				if err := db.MarkDeliveries(ctx, marks); err != nil {
					t.Fatal(err)
				}
				marks = marks[:0]
			}
		}
		if err := db.MarkDeliveries(ctx, marks); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != n {
		t.Errorf("claimed %d rows, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("row %d claimed %d times", id, c)
		}
	}
	if skipped != 1 {
		t.Errorf("%d rows of unconfirmed subscribers, want 1", skipped)
	}
	c, err := db.IssueCounts(ctx, is.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := IssueSummary{Recipients: n, Sent: sent, FailedTemp: temp, FailedPerm: perm, Skipped: skipped}
	c.Issue = Issue{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	// The temporary failures keep their claim: one pass tries a row once.
	if again, _ := db.ClaimDeliveries(ctx, is.ID, "a", 100, now, now.Add(time.Minute)); len(again) != 0 {
		t.Fatalf("the same pass got %d rows back", len(again))
	}
	if err := db.ReleaseClaims(ctx, is.ID, "a"); err != nil {
		t.Fatal(err)
	}

	// Second pass (a resume): only the temporary failures come back, with
	// their attempts and error.
	rows, err := db.ClaimDeliveries(ctx, is.ID, "b", 1000, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != temp {
		t.Errorf("second pass claimed %d, want %d", len(rows), temp)
	}
	for _, d := range rows {
		if d.Status != DeliveryFailedTemp || d.Attempts != 1 || d.Error != "451 try later" {
			t.Errorf("second pass row %+v", d)
		}
		if err := db.MarkDeliveries(ctx, []Mark{{DeliveryID: d.ID, Status: DeliverySent, Attempts: 2, At: t0}}); err != nil {
			t.Fatal(err)
		}
	}
	if to, ok, err := db.SentTo(ctx, is.ID); err != nil || !ok || !strings.HasSuffix(to, "@example.org") {
		t.Errorf("SentTo = %q, %v, %v", to, ok, err)
	}
	var claimed int
	db.r.QueryRowContext(ctx, "SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL").Scan(&claimed)
	if claimed != 0 {
		t.Errorf("%d rows still claimed after everything was marked", claimed)
	}

	t.Run("sent stays sent", func(t *testing.T) {
		id := rows[0].ID
		if err := db.MarkDeliveries(ctx, []Mark{{DeliveryID: id, Status: DeliveryFailedTemp, Attempts: 3}}); err != nil {
			t.Fatal(err)
		}
		c, _ := db.IssueCounts(ctx, is.ID)
		if c.Sent != sent+temp {
			t.Errorf("sent %d, want %d", c.Sent, sent+temp)
		}
	})
	t.Run("bad status and missing rows", func(t *testing.T) {
		if err := db.MarkDeliveries(ctx, []Mark{{DeliveryID: 1, Status: "lost"}}); err == nil {
			t.Error("MarkDeliveries accepted an unknown status")
		}
		if err := db.MarkDeliveries(ctx, []Mark{{DeliveryID: 999999, Status: DeliverySent}}); err != nil {
			t.Errorf("mark of a vanished row: %v", err)
		}
	})
	t.Run("later mark wins, values kept exactly", func(t *testing.T) {
		// A row open again (only a test rewrites a sent row).
		id := rows[0].ID
		if _, err := db.w.ExecContext(ctx, "UPDATE deliveries SET status = 'pending' WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
		reply := `450 4.2.0 "mailbox" busy \ try later – ☃`
		at := t0.Add(1234567 * time.Nanosecond)
		err := db.MarkDeliveries(ctx, []Mark{
			{DeliveryID: id, Status: DeliveryFailedPerm, Error: "550 no", Attempts: 1, At: t0},
			{DeliveryID: id, Status: DeliveryFailedTemp, Error: reply, Attempts: 7, At: at},
		})
		if err != nil {
			t.Fatal(err)
		}
		var status, gotErr string
		var attempts int
		var updated int64
		if err := db.r.QueryRowContext(ctx, "SELECT status, error, attempts, updated FROM deliveries WHERE id = ?", id).Scan(&status, &gotErr, &attempts, &updated); err != nil {
			t.Fatal(err)
		}
		if status != DeliveryFailedTemp || gotErr != reply || attempts != 7 || updated != at.UnixNano() {
			t.Errorf("row %q %q %d %d, want %q %q 7 %d", status, gotErr, attempts, updated, DeliveryFailedTemp, reply, at.UnixNano())
		}
	})
}

// TestClaimsExpireRenewAndRelease: a claim keeps a row from other senders
// until it is marked, released or expires; renewing keeps it alive.
func TestClaimsExpireRenewAndRelease(t *testing.T) {
	forEachBackend(t, testClaimsExpireRenewAndRelease)
}

func testClaimsExpireRenewAndRelease(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	is := newIssue(t, db, 10)
	now := time.Now()
	a, err := db.ClaimDeliveries(ctx, is.ID, "a", 4, now, now.Add(time.Minute))
	if err != nil || len(a) != 4 {
		t.Fatalf("a claimed %d: %v", len(a), err)
	}
	b, err := db.ClaimDeliveries(ctx, is.ID, "b", 100, now, now.Add(time.Hour))
	if err != nil || len(b) != 6 {
		t.Fatalf("b claimed %d: %v", len(b), err)
	}
	for _, d := range b {
		for _, x := range a {
			if d.ID == x.ID {
				t.Fatalf("row %d claimed by both", d.ID)
			}
		}
	}
	if n, next, err := db.OtherClaims(ctx, is.ID, "b", now); err != nil || n != 4 || !next.Equal(now.Add(time.Minute).UTC()) {
		t.Fatalf("b sees %d claimed by others until %v (%v), want 4 until %v", n, next, err, now.Add(time.Minute))
	}
	// a dies: after the expiry b takes its rows.
	later := now.Add(2 * time.Minute)
	if n, _, _ := db.OtherClaims(ctx, is.ID, "b", later); n != 0 {
		t.Fatalf("expired claims still counted: %d", n)
	}
	taken, err := db.ClaimDeliveries(ctx, is.ID, "b", 100, later, later.Add(time.Minute))
	if err != nil || len(taken) != 4 {
		t.Fatalf("b took %d expired rows: %v", len(taken), err)
	}
	// a comes back: renewing no longer reaches rows b holds now.
	if n, err := db.RenewClaims(ctx, is.ID, "a", later.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("a renewed %d rows (%v), want 0", n, err)
	}
	if n, err := db.RenewClaims(ctx, is.ID, "b", later.Add(time.Hour)); err != nil || n != 10 {
		t.Fatalf("b renewed %d rows (%v), want 10", n, err)
	}
	if got, _ := db.ClaimDeliveries(ctx, is.ID, "c", 100, later.Add(30*time.Minute), later.Add(31*time.Minute)); len(got) != 0 {
		t.Fatalf("c claimed %d renewed rows", len(got))
	}
	if err := db.ReleaseClaims(ctx, is.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ClaimDeliveries(ctx, is.ID, "c", 100, now, now.Add(time.Minute)); len(got) != 10 {
		t.Fatalf("c claimed %d released rows, want 10", len(got))
	}
	if _, ok, _ := db.SentTo(ctx, is.ID); ok {
		t.Error("SentTo found a recipient of an issue that reached nobody")
	}
	if _, err := db.ClaimDeliveries(ctx, is.ID, "", 1, now, now.Add(time.Minute)); err == nil {
		t.Error("claim without a holder accepted")
	}
}

// TestClaimsTwoProcessesConcurrently: two handles on one file (two
// processes) claim and mark at once; every row goes to exactly one.
func TestClaimsTwoProcessesConcurrently(t *testing.T) {
	forEachBackend(t, testClaimsTwoProcessesConcurrently)
}

func testClaimsTwoProcessesConcurrently(t *testing.T, be backend) {
	ctx := context.Background()
	db, opts := openTest(t, be)
	db2 := openAgain(t, opts)
	const n = 3000
	is := newIssue(t, db, n)
	var mu sync.Mutex
	owner := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i, h := range []*DB{db, db2, db, db2} {
		holder := fmt.Sprintf("sender%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				now := time.Now()
				rows, err := h.ClaimDeliveries(ctx, is.ID, holder, 64, now, now.Add(time.Minute))
				if err != nil {
					errs <- err
					return
				}
				if len(rows) == 0 {
					return
				}
				marks := make([]Mark, 0, len(rows))
				mu.Lock()
				for _, d := range rows {
					if o, dup := owner[d.ID]; dup {
						errs <- fmt.Errorf("row %d claimed by %s and %s", d.ID, o, holder)
					}
					owner[d.ID] = holder
					marks = append(marks, Mark{DeliveryID: d.ID, Status: DeliverySent, Attempts: 1, At: t0})
				}
				mu.Unlock()
				if err := h.MarkDeliveries(ctx, marks); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c, _ := db.IssueCounts(ctx, is.ID)
	if len(owner) != n || c.Sent != n || c.Pending != 0 {
		t.Errorf("claimed %d, counts %+v", len(owner), c)
	}
}

func TestCreateIssueRaceWithoutSlot(t *testing.T) { forEachBackend(t, testCreateIssueRaceWithoutSlot) }

func testCreateIssueRaceWithoutSlot(t *testing.T, be backend) {
	// Two manual sends of one edition at once: one issue, the other learns
	// which one to join.
	ctx := context.Background()
	db, opts := openTest(t, be)
	db2 := openAgain(t, opts)
	mustAdd(t, db, Subscriber{Email: "x@example.org", Status: StatusConfirmed, Created: t0})
	var wg sync.WaitGroup
	results := make([]error, 6)
	ids := make([]int64, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := []*DB{db, db2}[i%2]
			is, err := h.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0, WindowFrom: t0.Add(-time.Hour), WindowTo: t0}, "weekly")
			results[i], ids[i] = err, is.ID
		}()
	}
	wg.Wait()
	var winner int64
	for i, err := range results {
		if err == nil {
			if winner != 0 {
				t.Fatalf("two issues made: %d and %d", winner, ids[i])
			}
			winner = ids[i]
		}
	}
	for _, err := range results {
		var c *IssueConflict
		if err != nil && (!errors.As(err, &c) || !c.Open || c.ID != winner) {
			t.Errorf("loser got %v, want a conflict naming %d", err, winner)
		}
	}
}

// TestMigrationKeepsLegacyState opens a store written by the first schema
// with the old race's leftovers: two open issues of one edition, and seen
// articles from before editions were told apart.
func TestMigrationKeepsLegacyState(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/old.db"
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := migrationFS.ReadFile("migrations/sqlite/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(first), "PRAGMA user_version = 1",
		`INSERT INTO issues (id, edition, status, created) VALUES (1, 'daily', 'sending', 1), (2, 'daily', 'sending', 2), (3, 'weekly', 'done', 3)`,
		`INSERT INTO seen_articles (article_id, issue_id, at) VALUES ('a', 1, 10), ('b', 3, 10), ('c', NULL, 10)`,
		`INSERT INTO feed_state (url, etag) VALUES ('https://example.org/feed', '"x"')`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	open, ok, err := db.OpenIssue(ctx, "daily")
	if err != nil || !ok || open.ID != 1 {
		t.Fatalf("OpenIssue = %d %v %v, want the older of the two (1)", open.ID, ok, err)
	}
	daily, _ := db.SeenArticles(ctx, "daily", []string{"a", "b", "c"})
	weekly, _ := db.SeenArticles(ctx, "weekly", []string{"a", "b", "c"})
	if !reflect.DeepEqual(daily, map[string]bool{"a": true, "c": true}) || !reflect.DeepEqual(weekly, map[string]bool{"b": true, "c": true}) {
		t.Errorf("seen after migration: daily %v, weekly %v", daily, weekly)
	}
	if e, _, _ := db.FeedStates("daily").FeedState(ctx, "https://example.org/feed"); e != "" {
		t.Errorf("an old validator survived for daily: %q", e)
	}
}

// TestTriedRowsAreNotWaitedFor: a row a sender tried and holds until its
// run ends is not "in progress": another sender must not wait for it (two
// senders holding each other's failures would wait forever).
func TestTriedRowsAreNotWaitedFor(t *testing.T) { forEachBackend(t, testTriedRowsAreNotWaitedFor) }

func testTriedRowsAreNotWaitedFor(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	is := newIssue(t, db, 2)
	now := time.Now()
	a, _ := db.ClaimDeliveries(ctx, is.ID, "a", 1, now, now.Add(time.Minute))
	b, _ := db.ClaimDeliveries(ctx, is.ID, "b", 1, now, now.Add(time.Minute))
	if n, _, _ := db.OtherClaims(ctx, is.ID, "a", now); n != 1 {
		t.Fatalf("a waits for %d rows, want b's one in progress", n)
	}
	for _, d := range []Delivery{a[0], b[0]} {
		if err := db.MarkDeliveries(ctx, []Mark{{DeliveryID: d.ID, Status: DeliveryFailedTemp, Error: "451", Attempts: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, _ := db.OtherClaims(ctx, is.ID, "a", now); n != 0 {
		t.Fatalf("a waits for %d rows b already tried", n)
	}
	if got, _ := db.ClaimDeliveries(ctx, is.ID, "a", 10, now, now.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("a took %d rows still held", len(got))
	}
	// b's run ends: a may retry b's failure.
	db.ReleaseClaims(ctx, is.ID, "b")
	if got, _ := db.ClaimDeliveries(ctx, is.ID, "a", 10, now, now.Add(time.Minute)); len(got) != 1 || got[0].ID != b[0].ID {
		t.Fatalf("after b's release a claimed %v", got)
	}
}
