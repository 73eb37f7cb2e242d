package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func TestSubscriberIDsNeverReused(t *testing.T) { forEachBackend(t, testSubscriberIDsNeverReused) }

func testSubscriberIDsNeverReused(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	a := mustAdd(t, db, Subscriber{Email: "a@example.org", Created: t0})
	b := mustAdd(t, db, Subscriber{Email: "b@example.org", Created: t0})
	if a.Stamp == 0 || b.Stamp == 0 || a.Stamp == b.Stamp {
		t.Fatalf("stamps %d %d", a.Stamp, b.Stamp)
	}
	// Removing the newest row is what made SQLite hand its id out again.
	if err := db.DeleteSubscriber(ctx, "b@example.org"); err != nil {
		t.Fatal(err)
	}
	c := mustAdd(t, db, Subscriber{Email: "c@example.org", Created: t0})
	if c.ID <= b.ID {
		t.Fatalf("new subscriber got id %d, the removed one had %d", c.ID, b.ID)
	}
	if _, found, err := db.SubscriberStamp(ctx, b.ID); err != nil || found {
		t.Fatalf("stamp of a removed subscriber: found=%v %v", found, err)
	}
	if s, found, err := db.SubscriberStamp(ctx, c.ID); err != nil || !found || s != c.Stamp {
		t.Fatalf("stamp %d %v %v, want %d", s, found, err, c.Stamp)
	}
	// Imports and upserts take the same road.
	if err := db.DeleteSubscriber(ctx, "c@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(ctx, rowsOf([]Subscriber{{Email: "d@example.org"}}, t0), keepExisting); err != nil {
		t.Fatal(err)
	}
	d, _ := db.SubscriberByEmail(ctx, "d@example.org")
	if d.ID <= c.ID {
		t.Fatalf("imported subscriber got id %d, a removed one had %d", d.ID, c.ID)
	}
	// Whoever inserts by hand with an old id is refused by the schema.
	if _, err := db.w.ExecContext(ctx, "INSERT INTO subscribers (id, email, status, created) VALUES (?, 'x@example.org', 'pending', 1)", b.ID); err == nil {
		t.Fatal("an insert reusing a removed id was accepted")
	}
}

func TestMigrationKeepsHistory(t *testing.T) {
	// A store at version 1 with history: migrating must keep every
	// consent event and delivery (a table rebuild would cascade them away)
	// and leave the old subscribers' stamp at 0, so their links still work.
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := migrationFS.ReadFile("migrations/sqlite/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	// The first schema, as an old binary left it, with one subscriber, a
	// consent event and a delivery.
	for _, q := range []string{string(first), "PRAGMA user_version = 1", "PRAGMA foreign_keys = ON",
		`INSERT INTO subscribers (id, email, status, created) VALUES (1, 'old@example.org', 'confirmed', 1)`,
		`INSERT INTO consent_events (subscriber_id, kind, at) VALUES (1, 'add', 1)`,
		`INSERT INTO issues (id, edition, status, created) VALUES (1, 'weekly', 'sending', 1)`,
		`INSERT INTO deliveries (issue_id, subscriber_id, status, updated) VALUES (1, 1, 'pending', 1)`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	s := Subscriber{ID: 1}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.SubscriberByID(ctx, s.ID)
	if err != nil || got.Stamp != 0 {
		t.Fatalf("old subscriber after migration: %+v %v", got, err)
	}
	if evs, _ := db.ConsentEvents(ctx, s.ID); len(evs) != 1 {
		t.Fatalf("consent events after migration: %+v", evs)
	}
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM deliveries").Scan(&n); err != nil || n != 1 {
		t.Fatalf("deliveries after migration: %d %v", n, err)
	}
	if err := db.DeleteSubscriber(ctx, "old@example.org"); err != nil {
		t.Fatal(err)
	}
	if n := mustAdd(t, db, Subscriber{Email: "new@example.org", Created: t0}); n.ID <= s.ID {
		t.Fatalf("id %d reused after migration", n.ID)
	}
}

func TestChangeIsAtomic(t *testing.T) { forEachBackend(t, testChangeIsAtomic) }

func testChangeIsAtomic(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	s := mustAdd(t, db, Subscriber{Email: "p@example.org", Created: t0})
	// A consent event that cannot be written (no kind) takes the status
	// change and the mail with it.
	_, err := db.ChangeSubscriber(ctx, s.ID, func(Subscriber) (Change, error) {
		return Change{Status: StatusConfirmed, At: t0, Mail: &OutboxMail{Kind: "welcome", Message: []byte("x"), Created: t0},
			Consent: &ConsentEvent{At: t0}}, nil
	})
	if err == nil {
		t.Fatal("change without a consent kind accepted")
	}
	got, _ := db.SubscriberByID(ctx, s.ID)
	mails, _ := db.OutboxMails(ctx, "")
	if got.Status != StatusPending || len(mails) != 0 {
		t.Fatalf("half a change was kept: %s, %d mails", got.Status, len(mails))
	}
	// A decide error is returned as is.
	boom := errors.New("no")
	if _, err := db.ChangeSubscriber(ctx, s.ID, func(Subscriber) (Change, error) { return Change{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("decide error: %v", err)
	}
	if _, err := db.ChangeSubscriber(ctx, s.ID+99, func(Subscriber) (Change, error) { return Change{}, nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing subscriber: %v", err)
	}
	// Upsert: created is reported and the change lands with the row.
	u, created, err := db.UpsertSubscriber(ctx, Subscriber{Email: "q@example.org", Status: StatusPending, Created: t0},
		func(cur Subscriber, created bool) (Change, error) {
			if !created {
				return Change{}, nil
			}
			return Change{ConfirmSentAt: t0, Consent: &ConsentEvent{Kind: ConsentSubscribe, At: t0},
				Mail: &OutboxMail{Kind: "confirm", Message: []byte("hello"), Created: t0}}, nil
		})
	if err != nil || !created || !u.ConfirmSentAt.Equal(t0) {
		t.Fatalf("upsert: %+v %v %v", u, created, err)
	}
	mails, _ = db.OutboxMails(ctx, "confirm")
	if len(mails) != 1 || mails[0].SubscriberID != u.ID || string(mails[0].Message) != "hello" {
		t.Fatalf("outbox %+v", mails)
	}
	if _, created, err := db.UpsertSubscriber(ctx, Subscriber{Email: "Q@example.org", Created: t0},
		func(Subscriber, bool) (Change, error) { return Change{}, nil }); err != nil || created {
		t.Fatalf("second upsert created=%v %v", created, err)
	}
	// Removing the subscriber removes their unsent mail.
	if err := db.DeleteSubscriber(ctx, "q@example.org"); err != nil {
		t.Fatal(err)
	}
	if mails, _ := db.OutboxMails(ctx, ""); len(mails) != 0 {
		t.Fatalf("mail of a removed subscriber kept: %+v", mails)
	}
}

func TestOutboxClaims(t *testing.T) { forEachBackend(t, testOutboxClaims) }

func testOutboxClaims(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	for i := range 3 {
		if _, err := db.Enqueue(ctx, OutboxMail{Kind: "reply", Message: []byte(fmt.Sprint(i)), Created: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	later, _ := db.Enqueue(ctx, OutboxMail{Kind: "reply", Message: []byte("later"), Created: t0, Due: t0.Add(time.Hour)})
	claim := Claim{Holder: "a", Now: t0.Add(time.Minute), Until: t0.Add(2 * time.Minute), Limit: 10}
	got, err := db.ClaimOutbox(ctx, claim)
	if err != nil || len(got) != 3 {
		t.Fatalf("claimed %d, %v", len(got), err)
	}
	for _, m := range got {
		if m.Attempts != 1 || m.ID == later {
			t.Fatalf("claimed %+v", m)
		}
	}
	// A second worker finds nothing while the claims hold.
	if again, _ := db.ClaimOutbox(ctx, Claim{Holder: "b", Now: claim.Now, Until: claim.Until, Limit: 10}); len(again) != 0 {
		t.Fatalf("claimed twice: %+v", again)
	}
	if err := db.OutboxSent(ctx, got[0].ID, "a", claim.Now); err != nil {
		t.Fatal(err)
	}
	if err := db.OutboxRetry(ctx, got[1].ID, "a", t0.Add(10*time.Minute), "451 try later"); err != nil {
		t.Fatal(err)
	}
	// got[2]'s holder dies: the claim expires and b takes it over.
	taken, err := db.ClaimOutbox(ctx, Claim{Holder: "b", Now: claim.Until, Until: claim.Until.Add(time.Minute), Limit: 10})
	if err != nil || len(taken) != 1 || taken[0].ID != got[2].ID || taken[0].Attempts != 2 {
		t.Fatalf("after expiry: %+v %v", taken, err)
	}
	// The dead holder cannot mark what b now holds, nor mark twice.
	if err := db.OutboxSent(ctx, got[2].ID, "a", claim.Until); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stale holder marked: %v", err)
	}
	if err := db.OutboxSent(ctx, got[0].ID, "a", claim.Until); !errors.Is(err, ErrNotFound) {
		t.Fatalf("marked sent twice: %v", err)
	}
	if err := db.OutboxFailed(ctx, got[2].ID, "b", "550 no such user"); err != nil {
		t.Fatal(err)
	}
	next, ok, err := db.NextOutboxDue(ctx)
	if err != nil || !ok || !next.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("next due %v %v %v", next, ok, err)
	}
	mails, _ := db.OutboxMails(ctx, "reply")
	status := map[int64]string{}
	for _, m := range mails {
		status[m.ID] = m.Status + ":" + m.Error
	}
	if status[got[0].ID] != "sent:" || status[got[1].ID] != "pending:451 try later" || status[got[2].ID] != "failed:550 no such user" {
		t.Fatalf("statuses %v", status)
	}
	if n, err := db.PurgeOutbox(ctx, t0.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("purged %d, %v", n, err)
	}
}

func TestOutboxBudget(t *testing.T) { forEachBackend(t, testOutboxBudget) }

func testOutboxBudget(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	for i := range 50 {
		if _, err := db.Enqueue(ctx, OutboxMail{Kind: "confirm", Message: []byte(fmt.Sprint(i)), Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Enqueue(ctx, OutboxMail{Kind: "reply", Message: []byte("r"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	b := &Budget{Name: "confirmations", Kind: "confirm", Every: time.Minute, Burst: 5}
	claim := func(now time.Time) []OutboxMail {
		t.Helper()
		got, err := db.ClaimOutbox(ctx, Claim{Holder: "w", Now: now, Until: now.Add(time.Second), Limit: 100, Budget: b})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			if err := db.OutboxSent(ctx, m.ID, "w", now); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	first := claim(t0)
	// The reply is not budgeted; five confirmations (the burst), newest first.
	if len(first) != 6 || first[0].Kind != "reply" || string(first[1].Message) != "49" {
		t.Fatalf("first claim: %d rows, first %s %q", len(first), first[0].Kind, first[1].Message)
	}
	if got := claim(t0.Add(30 * time.Second)); len(got) != 0 {
		t.Fatalf("budget spent, yet %d claimed", len(got))
	}
	if got := claim(t0.Add(time.Minute)); len(got) != 1 {
		t.Fatalf("after one interval: %d claimed", len(got))
	}
	// A new sign-up after the flood goes out at the next interval, ahead
	// of the 44 older ones still waiting.
	id, _ := db.Enqueue(ctx, OutboxMail{Kind: "confirm", Message: []byte("new reader"), Created: t0.Add(90 * time.Second)})
	got := claim(t0.Add(2 * time.Minute))
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("new reader not first: %+v", got)
	}
}
