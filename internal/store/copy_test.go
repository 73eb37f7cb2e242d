package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openCopyTest(t *testing.T, name string) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The source is always SQLite (import-sqlite); the target is each backend.

// Ids the source handed out and then lost (its newest rows deleted) are
// not handed out again by the target: not a subscriber's (links name it),
// not an outbox row's (AUTOINCREMENT).
func TestImportFromKeepsIDsPastDeletedRows(t *testing.T) {
	forEachBackend(t, testImportFromKeepsIDsPastDeletedRows)
}

func testImportFromKeepsIDsPastDeletedRows(t *testing.T, be backend) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	src := openCopyTest(t, "src.db")
	var last Subscriber
	for _, e := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		s, _, err := src.AddSubscriber(ctx, Subscriber{Email: e, Status: StatusConfirmed, Created: at})
		if err != nil {
			t.Fatal(err)
		}
		last = s
	}
	if err := src.DeleteSubscriber(ctx, last.Email); err != nil {
		t.Fatal(err)
	}
	var lastMail int64
	for range 3 {
		id, err := src.Enqueue(ctx, OutboxMail{Kind: "reply", Message: []byte("m"), Created: at})
		if err != nil {
			t.Fatal(err)
		}
		lastMail = id
	}
	// Nothing removes unsent mail but its subscriber's removal: delete
	// the rows directly.
	if _, err := src.w.ExecContext(ctx, "DELETE FROM outbox"); err != nil {
		t.Fatal(err)
	}

	dst, _ := openTest(t, be)
	rep, err := dst.ImportFrom(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tables[0].Table != "subscribers" || rep.Tables[0].Rows != 2 || rep.Total() != 2 {
		t.Errorf("report = %+v, want 2 subscribers and nothing else", rep)
	}
	s, _, err := dst.AddSubscriber(ctx, Subscriber{Email: "new@example.org", Status: StatusConfirmed, Created: at})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID <= last.ID {
		t.Errorf("new subscriber id %d, want past the deleted %d", s.ID, last.ID)
	}
	id, err := dst.Enqueue(ctx, OutboxMail{Kind: "reply", Message: []byte("m"), Created: at})
	if err != nil {
		t.Fatal(err)
	}
	if id <= lastMail {
		t.Errorf("new outbox id %d, want past the deleted %d", id, lastMail)
	}
}

func TestImportFromRefusesANonEmptyTarget(t *testing.T) {
	forEachBackend(t, testImportFromRefusesANonEmptyTarget)
}

func testImportFromRefusesANonEmptyTarget(t *testing.T, be backend) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	src := openCopyTest(t, "src.db")
	if _, _, err := src.AddSubscriber(ctx, Subscriber{Email: "a@example.org", Status: StatusConfirmed, Created: at}); err != nil {
		t.Fatal(err)
	}
	dst, _ := openTest(t, be)
	if err := dst.MarkInboundProcessed(ctx, "<x@example.org>", at); err != nil {
		t.Fatal(err)
	}
	if err := dst.SetLastSlot(ctx, "daily", at); err != nil {
		t.Fatal(err)
	}
	_, err := dst.ImportFrom(ctx, src)
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "schedule_slots, inbound_processed") {
		t.Fatalf("err = %v, want ErrTargetNotEmpty naming schedule_slots and inbound_processed", err)
	}
	if n, err := dst.CountSubscribers(ctx, Filter{}); err != nil || n != 0 {
		t.Errorf("after the refusal the target has %d subscribers (%v)", n, err)
	}
}

// SQLite keeps text written into a BLOB column as text; the copy still
// arrives as the same bytes (PostgreSQL's bytea takes bytes only).
func TestImportFromTextInABlobColumn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		src := openCopyTest(t, "src.db")
		is, err := src.CreateIssue(ctx, Issue{Edition: "daily", Status: IssueDone, Created: at, Finished: at, Payload: []byte("x")}, "daily")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.w.ExecContext(ctx, "UPDATE issues SET payload = ? WHERE id = ?", `{"frozen":true}`, is.ID); err != nil {
			t.Fatal(err)
		}
		dst, _ := openTest(t, be)
		if _, err := dst.ImportFrom(ctx, src); err != nil {
			t.Fatal(err)
		}
		got, err := dst.IssueByID(ctx, is.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Payload) != `{"frozen":true}` {
			t.Errorf("payload = %q", got.Payload)
		}
	})
}
