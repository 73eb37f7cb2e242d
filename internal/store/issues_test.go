package store

import (
	"context"
	"errors"
	"fmt"
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

func deliveryIDs(t *testing.T, db *DB, issueID int64) map[int64]Delivery {
	t.Helper()
	got := map[int64]Delivery{}
	if err := db.EachPending(context.Background(), issueID, 2, func(d Delivery) error {
		got[d.SubscriberID] = d
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCreateIssue(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
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
	t.Run("same slot is taken", func(t *testing.T) {
		_, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Slot: slot, Created: t0}, "weekly")
		if !errors.Is(err, ErrSlotTaken) {
			t.Fatalf("second CreateIssue: %v, want ErrSlotTaken", err)
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
	t.Run("manual sends never collide", func(t *testing.T) {
		for range 2 {
			if _, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0}, "weekly"); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("lookups", func(t *testing.T) {
		bySlot, ok, err := db.IssueBySlot(ctx, "weekly", slot)
		if err != nil || !ok || !reflect.DeepEqual(bySlot, got) {
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
		if f.Status != IssueDone || !f.Finished.Equal(t0.Add(time.Hour)) {
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
		if rs[2].Edition != "daily" || rs[2].Recipients != 1 {
			t.Errorf("third newest %+v", rs[2])
		}
	})
}

func TestEachPendingWithMarksInterleaved(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	const n = 1037
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
	// Unsubscribe one after the issue was made: its row comes back for the
	// caller to skip.
	gone, _ := db.SubscriberByEmail(ctx, "r5@example.org")
	if err := db.SetStatus(ctx, gone.ID, StatusUnsubscribed, t0); err != nil {
		t.Fatal(err)
	}

	// First pass: mark in batches of 50 while reading pages of 100, the way
	// the sender does; alternate outcomes.
	seen := map[int64]int{}
	var pending []Mark
	flush := func() {
		if err := db.MarkDeliveries(ctx, pending); err != nil {
			t.Fatal(err)
		}
		pending = pending[:0]
	}
	var skipped, temp, perm, sent int
	err = db.EachPending(ctx, is.ID, 100, func(d Delivery) error {
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
		pending = append(pending, m)
		if len(pending) == 50 {
			flush()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	flush()
	if len(seen) != n {
		t.Errorf("saw %d rows, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("row %d seen %d times", id, c)
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

	// Second pass (a resume): only the temporary failures come back, with
	// their attempts and error.
	var again int
	err = db.EachPending(ctx, is.ID, 7, func(d Delivery) error {
		again++
		if d.Status != DeliveryFailedTemp || d.Attempts != 1 || d.Error != "451 try later" {
			t.Errorf("second pass row %+v", d)
		}
		return db.MarkDeliveries(ctx, []Mark{{DeliveryID: d.ID, Status: DeliverySent, Attempts: 2, At: t0}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if again != temp {
		t.Errorf("second pass saw %d, want %d", again, temp)
	}

	t.Run("sent stays sent", func(t *testing.T) {
		var anySent int64
		for id := range seen {
			if id%10 == 0 {
				anySent = id
				break
			}
		}
		if err := db.MarkDeliveries(ctx, []Mark{{DeliveryID: anySent, Status: DeliveryFailedTemp, Attempts: 3}}); err != nil {
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
}

// TestEachPendingWhileMarkingConcurrently runs the reader and a separate
// marking goroutine at once, the way the delivery engine's workers do.
func TestEachPendingWhileMarkingConcurrently(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	const n = 3000
	var rows []Subscriber
	for i := range n {
		rows = append(rows, Subscriber{Email: fmt.Sprintf("c%d@example.org", i)})
	}
	if _, err := db.Import(ctx, rowsOf(rows, t0), keepExisting); err != nil {
		t.Fatal(err)
	}
	is, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0}, "weekly")
	if err != nil {
		t.Fatal(err)
	}
	work := make(chan int64, 64)
	var wg sync.WaitGroup
	var markErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		var batch []Mark
		for id := range work {
			batch = append(batch, Mark{DeliveryID: id, Status: DeliverySent, Attempts: 1, At: t0})
			if len(batch) == 25 {
				if err := db.MarkDeliveries(ctx, batch); err != nil && markErr == nil {
					markErr = err
				}
				batch = batch[:0]
			}
		}
		if err := db.MarkDeliveries(ctx, batch); err != nil && markErr == nil {
			markErr = err
		}
	}()
	seen := map[int64]bool{}
	err = db.EachPending(ctx, is.ID, 200, func(d Delivery) error {
		if seen[d.ID] {
			return fmt.Errorf("row %d twice", d.ID)
		}
		seen[d.ID] = true
		work <- d.ID
		return nil
	})
	close(work)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if markErr != nil {
		t.Fatal(markErr)
	}
	c, _ := db.IssueCounts(ctx, is.ID)
	if len(seen) != n || c.Sent != n || c.Pending != 0 {
		t.Errorf("saw %d, counts %+v", len(seen), c)
	}
}

func TestCreateIssueRace(t *testing.T) {
	// Two daemons race for the same slot: exactly one wins.
	ctx := context.Background()
	db, path := openTest(t)
	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
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
		case !errors.Is(err, ErrSlotTaken):
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
