package store

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

// seedEditions adds confirmed and other subscribers across editions and
// returns the ids a "weekly" issue (the default edition) must reach.
func seedEditions(t *testing.T, db *DB) []int64 {
	t.Helper()
	var want []int64
	add := func(email, status, edition string, member bool) {
		s := mustAdd(t, db, Subscriber{Email: email, Status: status, Edition: edition, Created: t0})
		if member {
			want = append(want, s.ID)
		}
	}
	add("w1@example.org", StatusConfirmed, "weekly", true)
	add("blank@example.org", StatusConfirmed, "", true) // default edition
	add("d1@example.org", StatusConfirmed, "daily", false)
	add("p@example.org", StatusPending, "weekly", false)
	add("u@example.org", StatusUnsubscribed, "weekly", false)
	add("b@example.org", StatusBounced, "", false)
	add("w2@example.org", StatusConfirmed, "weekly", true)
	return want
}

// deliveryIDs claims the issue's open rows and gives them back.
func deliveryIDs(t *testing.T, db *DB, issueID int64) map[int64]Delivery {
	t.Helper()
	ctx := context.Background()
	got := map[int64]Delivery{}
	ds, err := db.ClaimDeliveries(ctx, issueID, "look", 1000, time.Now(), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		got[d.SubscriberID] = d
	}
	if err := db.ReleaseClaims(ctx, issueID, "look"); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCreateIssue(t *testing.T) { forEachBackend(t, testCreateIssue) }

func testCreateIssue(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	want := seedEditions(t, db)
	slot := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	is := Issue{Edition: "weekly", Slot: slot.In(time.FixedZone("CET", 3600)), WindowFrom: t0.Add(-168 * time.Hour),
		WindowTo: t0, Created: t0, Articles: 12, Payload: []byte("frozen digest")}
	got, err := db.CreateIssue(ctx, is, "weekly")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || got.Status != IssueSending || got.Slot.Location() != time.UTC || !got.Slot.Equal(slot) {
		t.Fatalf("created %+v", got)
	}

	t.Run("one delivery per confirmed member", func(t *testing.T) {
		ds := deliveryIDs(t, db, got.ID)
		var ids []int64
		for id, d := range ds {
			ids = append(ids, id)
			if d.Status != DeliveryPending || d.SubscriberStatus != StatusConfirmed || d.Attempts != 0 || d.IssueID != got.ID {
				t.Errorf("delivery %+v", d)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("deliveries for %v, want %v", ids, want)
		}
		c, err := db.IssueCounts(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Recipients != len(want) || c.Pending != len(want) || c.Sent != 0 || c.Payload != nil || c.Articles != 12 {
			t.Errorf("counts %+v", c)
		}
	})
	t.Run("same slot while the first is open: join it", func(t *testing.T) {
		_, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Slot: slot, Created: t0}, "weekly")
		var c *IssueConflict
		if !errors.As(err, &c) || !c.Open || c.ID != got.ID {
			t.Fatalf("second CreateIssue: %v, want a conflict with open issue %d", err, got.ID)
		}
		if c, _ := db.CountSubscribers(ctx, Filter{}); c != 7 {
			t.Errorf("subscribers changed: %d", c)
		}
	})
	t.Run("other edition, same slot", func(t *testing.T) {
		d, err := db.CreateIssue(ctx, Issue{Edition: "daily", Slot: slot, Created: t0}, "weekly")
		if err != nil {
			t.Fatal(err)
		}
		ds := deliveryIDs(t, db, d.ID)
		if len(ds) != 1 {
			t.Errorf("daily issue has %d deliveries, want 1", len(ds))
		}
		for _, x := range ds {
			if x.Email != "d1@example.org" {
				t.Errorf("daily delivery to %s", x.Email)
			}
		}
	})
	t.Run("one unfinished issue per edition", func(t *testing.T) {
		_, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0}, "weekly")
		var c *IssueConflict
		if !errors.As(err, &c) || !c.Open || c.ID != got.ID || !errors.Is(err, ErrIssueExists) {
			t.Fatalf("second open weekly issue: %v, want a conflict naming issue %d", err, got.ID)
		}
		// The store itself refuses it, whoever writes.
		if _, err := db.w.ExecContext(ctx, "INSERT INTO issues (edition, status, created) VALUES ('weekly', 'sending', 1)"); err == nil {
			t.Fatal("a raw insert of a second open issue was accepted")
		}
		if err := db.FinishIssue(ctx, got.ID, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.w.ExecContext(ctx, "UPDATE issues SET status = 'sending' WHERE id = ?", got.ID); err != nil {
			t.Fatalf("reopening the only issue: %v", err)
		}
		next, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0}, "weekly")
		if !errors.As(err, &c) || !c.Open {
			t.Fatalf("got %+v, %v: want a conflict with the reopened issue", next, err)
		}
		if err := db.FinishIssue(ctx, got.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Slot: slot, Created: t0}, "weekly"); !errors.Is(err, ErrSlotTaken) {
			t.Fatalf("same slot after the first finished: %v, want ErrSlotTaken", err)
		}
		// Another sender finished an issue whose window covers the new one's
		// start: the new one would repeat it.
		_, err = db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0, WindowFrom: t0.Add(-time.Hour), WindowTo: t0.Add(time.Hour)}, "weekly")
		if !errors.As(err, &c) || c.Open || c.ID != got.ID {
			t.Fatalf("overlapping window: %v, want a conflict with finished issue %d", err, got.ID)
		}
		// A manual send after the slot's issue: no slot, no collision.
		if _, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0, WindowFrom: t0, WindowTo: t0.Add(time.Hour)}, "weekly"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("lookups", func(t *testing.T) {
		bySlot, ok, err := db.IssueBySlot(ctx, "weekly", slot)
		want := got
		want.Status, want.Finished = IssueDone, t0.Add(time.Minute) // finished above
		if err != nil || !ok || !reflect.DeepEqual(bySlot, want) {
			t.Fatalf("IssueBySlot: %+v %v %v\nwant %+v", bySlot, ok, err, got)
		}
		if _, ok, _ := db.IssueBySlot(ctx, "weekly", slot.Add(time.Hour)); ok {
			t.Error("IssueBySlot found an issue for an empty slot")
		}
		byID, err := db.IssueByID(ctx, got.ID)
		if err != nil || string(byID.Payload) != "frozen digest" {
			t.Fatalf("IssueByID: %+v %v", byID, err)
		}
		if _, err := db.IssueByID(ctx, 9999); !errors.Is(err, ErrNotFound) {
			t.Errorf("IssueByID(9999): %v", err)
		}
		last, ok, err := db.LastIssue(ctx, "weekly")
		if err != nil || !ok || last.ID <= got.ID || !last.Slot.IsZero() {
			t.Errorf("LastIssue: %+v %v %v", last, ok, err)
		}
		if _, ok, _ := db.LastIssue(ctx, "monthly"); ok {
			t.Error("LastIssue of an edition with no issues")
		}
	})
	t.Run("finish", func(t *testing.T) {
		// Finish every open weekly issue; then none is open.
		for {
			open, ok, err := db.OpenIssue(ctx, "weekly")
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if err := db.FinishIssue(ctx, open.ID, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		f, _ := db.IssueByID(ctx, got.ID)
		// Finished first at t0+1m; finishing again keeps the first time.
		if f.Status != IssueDone || !f.Finished.Equal(t0.Add(time.Minute)) {
			t.Errorf("finished issue %+v", f)
		}
		if err := db.FinishIssue(ctx, 9999, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("FinishIssue(9999): %v", err)
		}
	})
	t.Run("recent", func(t *testing.T) {
		rs, err := db.RecentIssues(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 3 {
			t.Fatalf("%d recent issues, want 3", len(rs))
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].ID >= rs[i-1].ID {
				t.Errorf("not newest first: %d then %d", rs[i-1].ID, rs[i].ID)
			}
		}
		if rs[1].Edition != "daily" || rs[1].Recipients != 1 {
			t.Errorf("second newest %+v", rs[1])
		}
	})
}

func TestCreateIssueRace(t *testing.T) { forEachBackend(t, testCreateIssueRace) }

func testCreateIssueRace(t *testing.T, be backend) {
	// Two daemons race for the same slot: exactly one wins.
	ctx := context.Background()
	db, opts := openTest(t, be)
	db2 := openAgain(t, opts)
	mustAdd(t, db, Subscriber{Email: "x@example.org", Status: StatusConfirmed, Created: t0})
	slot := t0.Add(time.Hour)
	var wg sync.WaitGroup
	results := make([]error, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := []*DB{db, db2}[i%2]
			_, results[i] = h.CreateIssue(ctx, Issue{Edition: "weekly", Slot: slot, Created: t0}, "weekly")
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrSlotTaken) && !errors.Is(err, ErrIssueExists):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d winners, want 1", wins)
	}
	rs, _ := db.RecentIssues(ctx, 10)
	if len(rs) != 1 || rs[0].Recipients != 1 {
		t.Errorf("issues %+v", rs)
	}
}
