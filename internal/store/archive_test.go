package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// The archive lists issues that reached a reader: done ones, and sending
// ones with a sent row; not an issue whose messages are all still pending.
func TestArchivedIssues(t *testing.T) { forEachBackend(t, testArchivedIssues) }

func testArchivedIssues(t *testing.T, be backend) {
	db, _ := openTest(t, be)
	ctx := context.Background()
	mustAdd(t, db, Subscriber{Email: "a@example.org", Status: StatusConfirmed})
	t0 := time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC)
	create := func(edition string, h int, payload string) Issue {
		is, err := db.CreateIssue(ctx, Issue{Edition: edition, Created: t0.Add(time.Duration(h) * time.Hour), Payload: []byte(payload)}, "weekly")
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	done := create("weekly", 0, "done")
	if err := db.FinishIssue(ctx, done.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	daily := create("daily", 1, "daily")
	if err := db.FinishIssue(ctx, daily.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	partly := create("weekly", 2, "partly")
	var rowID int64
	claimed, err := db.ClaimDeliveries(ctx, partly.ID, "t", 1, t0, t0.Add(time.Minute))
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d rows", err, len(claimed))
	}
	rowID = claimed[0].ID
	if err := db.MarkDeliveries(ctx, []Mark{{DeliveryID: rowID, Status: "sent", Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	// An edition has one unfinished issue at a time: queue one in daily.
	queued := create("daily", 3, "queued")

	got, err := db.ArchivedIssues(ctx, "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(is []Issue) []int64 {
		var out []int64
		for _, i := range is {
			out = append(out, i.ID)
			if i.Payload != nil {
				t.Error("a listed issue carries its payload")
			}
		}
		return out
	}
	if g, w := ids(got), []int64{partly.ID, daily.ID, done.ID}; !slices.Equal(g, w) {
		t.Errorf("archived = %v, want %v (newest first, not the queued %d)", g, w, queued.ID)
	}
	got, _ = db.ArchivedIssues(ctx, "weekly", 1, 1)
	if g, w := ids(got), []int64{done.ID}; !slices.Equal(g, w) {
		t.Errorf("weekly page 2 of 1 = %v, want %v", g, w)
	}
	if n, _ := db.CountArchivedIssues(ctx, "weekly"); n != 2 {
		t.Errorf("weekly count = %d, want 2", n)
	}
	if eds, _ := db.ArchivedEditions(ctx); len(eds) != 2 || eds[0] != "daily" || eds[1] != "weekly" {
		t.Errorf("editions = %v", eds)
	}
	is, err := db.ArchivedIssue(ctx, partly.ID)
	if err != nil || string(is.Payload) != "partly" {
		t.Errorf("ArchivedIssue(partly) = %q, %v", is.Payload, err)
	}
	if _, err := db.ArchivedIssue(ctx, queued.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("ArchivedIssue(queued) err = %v, want ErrNotFound", err)
	}
}
