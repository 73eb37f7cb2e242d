package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

func mustAdd(t testing.TB, db *DB, s Subscriber) Subscriber {
	t.Helper()
	got, created, err := db.AddSubscriber(context.Background(), s)
	if err != nil {
		t.Fatalf("AddSubscriber(%s): %v", s.Email, err)
	}
	if !created {
		t.Fatalf("AddSubscriber(%s): created=false for a new address", s.Email)
	}
	return got
}

func TestOpenMigratesAndReopenIsNoop(t *testing.T) {
	forEachBackend(t, testOpenMigratesAndReopenIsNoop)
}

func testOpenMigratesAndReopenIsNoop(t *testing.T, be backend) {
	ctx := context.Background()
	db, opts := openTest(t, be)
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations(be.name)
	if err != nil {
		t.Fatal(err)
	}
	if v != len(ms) || v == 0 {
		t.Fatalf("schema version %d, want %d", v, len(ms))
	}
	if be.name == DriverSQLite {
		checkSQLiteFile(t, db, opts.Path)
	}
	s := mustAdd(t, db, Subscriber{Email: "keep@example.org", Status: StatusConfirmed, Created: t0})

	// A second handle on the same file (another process, in effect) finds
	// the schema current and the data intact.
	db2 := openAgain(t, opts)
	v2, err := db2.SchemaVersion(ctx)
	if err != nil || v2 != v {
		t.Fatalf("re-Open version %d, %v; want %d", v2, err, v)
	}
	got, err := db2.SubscriberByID(ctx, s.ID)
	if err != nil || got.Email != s.Email {
		t.Fatalf("re-Open lost data: %+v, %v", got, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) { forEachBackend(t, testOpenRefusesNewerSchema) }

func testOpenRefusesNewerSchema(t *testing.T, be backend) {
	ctx := context.Background()
	db, opts := openTest(t, be)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.d.setVersion(ctx, tx, 999); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWith(ctx, opts); err == nil {
		t.Fatal("Open of a database from a newer program succeeded")
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		t.Run(p, func(t *testing.T) {
			if db, err := Open(context.Background(), p); err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", p)
			}
		})
	}
}

func TestSubscriberCRUD(t *testing.T) { forEachBackend(t, testSubscriberCRUD) }

func testSubscriberCRUD(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	s := mustAdd(t, db, Subscriber{Email: "Ann@Example.org", Name: "Ann", Topics: []string{"Security", "Local; news"},
		Edition: "weekly", Created: t0.In(time.FixedZone("X", 3600))})
	if s.ID == 0 || s.Status != StatusPending || !s.Created.Equal(t0) || s.Created.Location() != time.UTC {
		t.Fatalf("added %+v", s)
	}
	if !reflect.DeepEqual(s.Topics, []string{"Security", "Local; news"}) {
		t.Errorf("topics %q", s.Topics)
	}

	t.Run("lookup ignores case", func(t *testing.T) {
		got, err := db.SubscriberByEmail(ctx, " ann@example.ORG ")
		if err != nil || got.ID != s.ID || got.Email != "Ann@Example.org" {
			t.Fatalf("SubscriberByEmail: %+v, %v", got, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := db.SubscriberByID(ctx, 9999); !errors.Is(err, ErrNotFound) {
			t.Errorf("SubscriberByID(9999): %v", err)
		}
		if _, err := db.SubscriberByEmail(ctx, "nobody@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("SubscriberByEmail: %v", err)
		}
		if err := db.SetStatus(ctx, 9999, StatusConfirmed, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetStatus: %v", err)
		}
	})
	t.Run("status timestamps", func(t *testing.T) {
		if _, err := db.ChangeSubscriber(ctx, s.ID, func(Subscriber) (Change, error) {
			return Change{ConfirmSentAt: t0.Add(time.Minute)}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetStatus(ctx, s.ID, StatusConfirmed, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ := db.SubscriberByID(ctx, s.ID)
		if got.Status != StatusConfirmed || !got.Confirmed.Equal(t0.Add(time.Hour)) ||
			!got.ConfirmSentAt.Equal(t0.Add(time.Minute)) || !got.Unsubscribed.IsZero() {
			t.Fatalf("after confirm: %+v", got)
		}
		if err := db.SetStatus(ctx, s.ID, StatusUnsubscribed, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ = db.SubscriberByID(ctx, s.ID)
		if got.Status != StatusUnsubscribed || !got.Unsubscribed.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("after unsubscribe: %+v", got)
		}
		if err := db.SetStatus(ctx, s.ID, "gone", t0); err == nil {
			t.Error("SetStatus accepted an unknown status")
		}
	})
	t.Run("preferences", func(t *testing.T) {
		if err := db.SetPreferences(ctx, s.ID, []string{"Sport"}, "daily"); err != nil {
			t.Fatal(err)
		}
		got, _ := db.SubscriberByID(ctx, s.ID)
		if !reflect.DeepEqual(got.Topics, []string{"Sport"}) || got.Edition != "daily" {
			t.Fatalf("after SetPreferences: %+v", got)
		}
		if err := db.SetPreferences(ctx, s.ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		got, _ = db.SubscriberByID(ctx, s.ID)
		if got.Topics != nil || got.Edition != "" {
			t.Fatalf("after clearing preferences: %+v", got)
		}
	})
	t.Run("update all fields", func(t *testing.T) {
		want, _ := db.SubscriberByID(ctx, s.ID)
		want.Email, want.Name, want.Status = "ann2@example.org", "Ann B", StatusBounced
		want.Topics, want.Edition = []string{"A"}, "weekly"
		want.Confirmed, want.Unsubscribed, want.ConfirmSentAt = t0.Add(3*time.Hour), time.Time{}, t0.Add(4*time.Hour)
		want.HardBounces, want.SoftBounces, want.LastError = 2, 3, "550 no such user"
		if err := db.UpdateSubscriber(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, _ := db.SubscriberByID(ctx, s.ID)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after update\n got %+v\nwant %+v", got, want)
		}
		if err := db.UpdateSubscriber(ctx, Subscriber{ID: 9999, Email: "x@y.z", Status: StatusPending}); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateSubscriber(9999): %v", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		other := mustAdd(t, db, Subscriber{Email: "bob@example.org", Created: t0})
		if err := db.AddConsent(ctx, ConsentEvent{SubscriberID: other.ID, Kind: ConsentSubscribe, At: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteSubscriber(ctx, "BOB@example.org"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SubscriberByID(ctx, other.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted subscriber still there: %v", err)
		}
		if evs, _ := db.ConsentEvents(ctx, other.ID); len(evs) != 0 {
			t.Errorf("consent of an erased subscriber kept: %+v", evs)
		}
		if err := db.DeleteSubscriber(ctx, "bob@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
}

func TestAddSubscriberExistingChangesNothing(t *testing.T) {
	forEachBackend(t, testAddSubscriberExistingChangesNothing)
}

func testAddSubscriberExistingChangesNothing(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	orig := mustAdd(t, db, Subscriber{Email: "u@example.org", Name: "U", Status: StatusUnsubscribed,
		Topics: []string{"A"}, Created: t0, Unsubscribed: t0.Add(time.Hour)})
	got, created, err := db.AddSubscriber(ctx, Subscriber{Email: "U@example.org", Name: "Other",
		Status: StatusConfirmed, Topics: []string{"B"}, Edition: "daily", Created: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("created=true for an existing address")
	}
	if !reflect.DeepEqual(got, orig) {
		t.Errorf("returned\n%+v\nwant the existing row\n%+v", got, orig)
	}
	now, _ := db.SubscriberByID(ctx, orig.ID)
	if !reflect.DeepEqual(now, orig) {
		t.Errorf("row changed:\n%+v\nwas\n%+v", now, orig)
	}
	if _, _, err := db.AddSubscriber(ctx, Subscriber{Email: "  "}); err == nil {
		t.Error("AddSubscriber accepted an empty email")
	}
}

func TestConsentEventsKeptAfterUnsubscribe(t *testing.T) {
	forEachBackend(t, testConsentEventsKeptAfterUnsubscribe)
}

func testConsentEventsKeptAfterUnsubscribe(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	s := mustAdd(t, db, Subscriber{Email: "c@example.org", Created: t0})
	evs := []ConsentEvent{
		{SubscriberID: s.ID, Kind: ConsentSubscribe, At: t0, IP: "192.0.2.1", UserAgent: "UA", Form: "/", Text: "Send me the brief"},
		{SubscriberID: s.ID, Kind: ConsentConfirm, At: t0.Add(time.Minute), IP: "192.0.2.1"},
		{SubscriberID: s.ID, Kind: ConsentUnsubscribe, At: t0.Add(time.Hour)},
	}
	for _, ev := range evs {
		if err := db.AddConsent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetStatus(ctx, s.ID, StatusUnsubscribed, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := db.ConsentEvents(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, evs) {
		t.Errorf("consent events\n got %+v\nwant %+v", got, evs)
	}
	if err := db.AddConsent(ctx, ConsentEvent{SubscriberID: 9999, Kind: ConsentSubscribe, At: t0}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddConsent for a missing subscriber: %v", err)
	}
}

// rowsOf turns a slice into Import's iterator.
// rowsOf yields rows for Import: confirmed at at unless they say
// otherwise, each with an import consent event.
func rowsOf(rows []Subscriber, at time.Time) func() (ImportRow, bool, error) {
	i := 0
	return func() (ImportRow, bool, error) {
		if i == len(rows) {
			return ImportRow{}, false, nil
		}
		i++
		s := rows[i-1]
		if s.Status == "" {
			s.Status, s.Confirmed = StatusConfirmed, at
		}
		if s.Created.IsZero() {
			s.Created = at
		}
		return ImportRow{Subscriber: s, Consent: ConsentEvent{Kind: ConsentImport, At: at, Form: "import"}}, true, nil
	}
}

// keepExisting is the merge that changes nothing.
func keepExisting(Subscriber, ImportRow) (Change, error) { return Change{}, nil }

func TestImport(t *testing.T) { forEachBackend(t, testImport) }

func testImport(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	gone := mustAdd(t, db, Subscriber{Email: "gone@example.org", Name: "Gone", Status: StatusUnsubscribed, Created: t0})
	mustAdd(t, db, Subscriber{Email: "same@example.org", Name: "Same", Status: StatusConfirmed, Created: t0})

	at := t0.Add(24 * time.Hour)
	var merged []string
	merge := func(cur Subscriber, row ImportRow) (Change, error) {
		merged = append(merged, cur.Email+"<-"+row.Subscriber.Email)
		if cur.Email == "same@example.org" {
			return Change{}, nil
		}
		ev := row.Consent
		ev.Kind = ConsentUnsubscribe
		return Change{SetName: true, Name: row.Subscriber.Name, Status: StatusBounced, Consent: &ev}, nil
	}
	st, err := db.Import(ctx, rowsOf([]Subscriber{
		{Email: "new1@example.org", Name: "New", Topics: []string{"A", "B"}, Edition: "daily"},
		{Email: "GONE@example.org", Name: "Gone Again"},
		{Email: "same@example.org"},
		{Email: "new2@example.org", Status: StatusUnsubscribed, Unsubscribed: t0, Created: t0},
	}, at), merge)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ImportStats{Added: 2, Updated: 1, Unchanged: 1}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if want := []string{"gone@example.org<-GONE@example.org", "same@example.org<-same@example.org"}; !reflect.DeepEqual(merged, want) {
		t.Errorf("merge called for %v", merged)
	}
	n1, _ := db.SubscriberByEmail(ctx, "new1@example.org")
	if n1.Status != StatusConfirmed || !n1.Confirmed.Equal(at) || !n1.Created.Equal(at) || n1.Edition != "daily" || n1.Stamp == 0 {
		t.Errorf("imported row: %+v", n1)
	}
	if evs, _ := db.ConsentEvents(ctx, n1.ID); len(evs) != 1 || evs[0].Kind != ConsentImport {
		t.Errorf("imported row consent: %+v", evs)
	}
	n2, _ := db.SubscriberByEmail(ctx, "new2@example.org")
	if n2.Status != StatusUnsubscribed || !n2.Created.Equal(t0) || !n2.Unsubscribed.Equal(t0) {
		t.Errorf("row imported as unsubscribed: %+v", n2)
	}
	g, _ := db.SubscriberByID(ctx, gone.ID)
	if g.Status != StatusBounced || g.Name != "Gone Again" {
		t.Errorf("merged row: %+v", g)
	}
	if evs, _ := db.ConsentEvents(ctx, gone.ID); len(evs) != 1 || evs[0].Kind != ConsentUnsubscribe || !evs[0].At.Equal(at) {
		t.Errorf("merged row consent: %+v", evs)
	}

	t.Run("an error rolls everything back", func(t *testing.T) {
		boom := errors.New("bad row")
		calls := 0
		next := rowsOf([]Subscriber{{Email: "rolled@example.org"}}, at)
		_, err := db.Import(ctx, func() (ImportRow, bool, error) {
			calls++
			if calls == 2 {
				return ImportRow{}, false, boom
			}
			return next()
		}, keepExisting)
		if !errors.Is(err, boom) {
			t.Fatalf("Import error %v, want %v", err, boom)
		}
		if _, err := db.SubscriberByEmail(ctx, "rolled@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("row of a failed import kept: %v", err)
		}
	})
}

func TestEachSubscriberAndCount(t *testing.T) { forEachBackend(t, testEachSubscriberAndCount) }

func testEachSubscriberAndCount(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	var rows []Subscriber
	for i := range 2500 {
		ed := []string{"", "weekly", "daily"}[i%3]
		rows = append(rows, Subscriber{Email: fmt.Sprintf("s%04d@example.org", i), Edition: ed})
	}
	if _, err := db.Import(ctx, rowsOf(rows, t0), keepExisting); err != nil {
		t.Fatal(err)
	}
	// A few that are not confirmed.
	for i := 0; i < 2500; i += 100 {
		s, _ := db.SubscriberByEmail(ctx, fmt.Sprintf("s%04d@example.org", i))
		if err := db.SetStatus(ctx, s.ID, StatusUnsubscribed, t0); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 2500},
		{"confirmed", Filter{Status: StatusConfirmed}, 2475},
		{"unsubscribed", Filter{Status: StatusUnsubscribed}, 25},
		{"daily", Filter{Edition: "daily"}, 833},
		{"weekly alone", Filter{Edition: "weekly"}, 833},
		{"weekly as default", Filter{Edition: "weekly", DefaultEdition: "weekly"}, 1667},
		{"confirmed weekly default", Filter{Status: StatusConfirmed, Edition: "weekly", DefaultEdition: "weekly"}, 1667 - 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := db.CountSubscribers(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Errorf("CountSubscribers = %d, want %d", n, tc.want)
			}
			var seen int
			var last int64
			err = db.EachSubscriber(ctx, tc.f, func(s Subscriber) error {
				if s.ID <= last {
					t.Fatalf("id %d after %d: not in id order", s.ID, last)
				}
				last = s.ID
				seen++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != tc.want {
				t.Errorf("EachSubscriber saw %d, want %d", seen, tc.want)
			}
		})
	}
	t.Run("callback error stops the walk", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := db.EachSubscriber(ctx, Filter{}, func(Subscriber) error {
			n++
			if n == 1500 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 1500 {
			t.Errorf("err %v after %d rows", err, n)
		}
	})
	t.Run("callback may write", func(t *testing.T) {
		err := db.EachSubscriber(ctx, Filter{Edition: "daily"}, func(s Subscriber) error {
			return db.SetPreferences(ctx, s.ID, []string{"X"}, "daily")
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestExpirePending(t *testing.T) { forEachBackend(t, testExpirePending) }

func testExpirePending(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	old := mustAdd(t, db, Subscriber{Email: "old@example.org", Created: t0})
	if err := db.AddConsent(ctx, ConsentEvent{SubscriberID: old.ID, Kind: ConsentSubscribe, At: t0}); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, Subscriber{Email: "fresh@example.org", Created: t0.Add(48 * time.Hour)})
	mustAdd(t, db, Subscriber{Email: "oldconfirmed@example.org", Status: StatusConfirmed, Created: t0})
	n, err := db.ExpirePending(ctx, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("expired %d, want 1", n)
	}
	if _, err := db.SubscriberByEmail(ctx, "old@example.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old pending kept: %v", err)
	}
	for _, e := range []string{"fresh@example.org", "oldconfirmed@example.org"} {
		if _, err := db.SubscriberByEmail(ctx, e); err != nil {
			t.Errorf("%s: %v", e, err)
		}
	}
}

func TestRecordBounce(t *testing.T) { forEachBackend(t, testRecordBounce) }

func testRecordBounce(t *testing.T, be backend) {
	ctx := context.Background()
	tests := []struct {
		name       string
		status     string
		hard       []bool // one bounce per entry
		hardLimit  int
		softLimit  int
		wantBounce []bool // after each bounce
		wantStatus string
	}{
		{"one hard bounce at limit 1", StatusConfirmed, []bool{true}, 1, 3, []bool{true}, StatusBounced},
		{"soft bounces up to the limit", StatusConfirmed, []bool{false, false, false}, 1, 3, []bool{false, false, true}, StatusBounced},
		{"hard limit 2", StatusConfirmed, []bool{true, false, true}, 2, 5, []bool{false, false, true}, StatusBounced},
		{"limits off", StatusConfirmed, []bool{true, true, false}, 0, 0, []bool{false, false, false}, StatusConfirmed},
		{"unsubscribed stays unsubscribed", StatusUnsubscribed, []bool{true}, 1, 1, []bool{false}, StatusUnsubscribed},
	}
	db, _ := openTest(t, be)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustAdd(t, db, Subscriber{Email: fmt.Sprintf("b%d@example.org", i), Status: tc.status, Created: t0})
			for j, hard := range tc.hard {
				at := t0.Add(time.Duration(j+1) * time.Hour)
				got, err := db.RecordBounce(ctx, s.ID, hard, fmt.Sprintf("reason %d", j), tc.hardLimit, tc.softLimit, at)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.wantBounce[j] {
					t.Errorf("bounce %d: bounced=%v, want %v", j, got, tc.wantBounce[j])
				}
			}
			got, _ := db.SubscriberByID(ctx, s.ID)
			if got.Status != tc.wantStatus {
				t.Errorf("status %s, want %s", got.Status, tc.wantStatus)
			}
			last := len(tc.hard) - 1
			if got.LastError != fmt.Sprintf("reason %d", last) || !got.LastBounce.Equal(t0.Add(time.Duration(last+1)*time.Hour)) {
				t.Errorf("last error %q at %v", got.LastError, got.LastBounce)
			}
			var hard, soft int
			for _, h := range tc.hard {
				if h {
					hard++
				} else {
					soft++
				}
			}
			if got.HardBounces != hard || got.SoftBounces != soft {
				t.Errorf("counters %d/%d, want %d/%d", got.HardBounces, got.SoftBounces, hard, soft)
			}
		})
	}
	if _, err := db.RecordBounce(ctx, 9999, true, "x", 1, 1, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordBounce(9999): %v", err)
	}
}

// TestConcurrentWriters hammers the store from several goroutines, with a
// second handle on the same file standing in for another process; no call
// may fail with SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) { forEachBackend(t, testConcurrentWriters) }

func testConcurrentWriters(t *testing.T, be backend) {
	ctx := context.Background()
	db, opts := openTest(t, be)
	db2 := openAgain(t, opts)
	is, err := db.CreateIssue(ctx, Issue{Edition: "weekly", Created: t0}, "weekly")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := db
			if w%2 == 1 {
				h = db2
			}
			for i := range each {
				email := fmt.Sprintf("w%d-%d@example.org", w, i)
				s, _, err := h.AddSubscriber(ctx, Subscriber{Email: email, Status: StatusConfirmed, Created: t0})
				if err != nil {
					errs <- err
					continue
				}
				if err := h.AddConsent(ctx, ConsentEvent{SubscriberID: s.ID, Kind: ConsentAdd, At: t0}); err != nil {
					errs <- err
				}
				if _, err := h.RecordBounce(ctx, s.ID, false, "451", 0, 10, t0); err != nil {
					errs <- err
				}
				if err := markSeenForTest(ctx, h, "weekly", []string{email}, is.ID, t0); err != nil {
					errs <- err
				}
				if _, err := h.CountSubscribers(ctx, Filter{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, _ := db.CountSubscribers(ctx, Filter{}); n != workers*each {
		t.Errorf("%d subscribers, want %d", n, workers*each)
	}
}

// TestEachSubscriberMemoryFlat walks 200k rows and checks the heap does not
// grow with them: the walk must stream, not load the table.
func TestEachSubscriberMemoryFlat(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("200k rows: a memory check, not a concurrency one; skipped with -short or -race")
	}
	forEachBackend(t, testEachSubscriberMemoryFlat)
}

// fillSQL inserts ? confirmed subscribers userNNNNNNN@example.org in one
// statement: a fraction of what Import takes (BenchmarkImport measures that).
var fillSQL = map[string]string{
	DriverSQLite: `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO subscribers (email, name, status, topics, created, confirmed, stamp)
		SELECT printf('user%07d@example.org', i), 'A Reader', 'confirmed', '["Security","Local"]', ?, ?, i
		FROM seq`,
	DriverPostgres: `INSERT INTO subscribers (email, name, status, topics, created, confirmed, stamp)
		SELECT 'user' || lpad(i::text, 7, '0') || '@example.org', 'A Reader', 'confirmed', '["Security","Local"]', ?, ?, i
		FROM generate_series(1, CAST(? AS integer)) AS i`,
}

func fillSubscribers(t testing.TB, db *DB, n int) {
	t.Helper()
	args := []any{n, t0.UnixNano(), t0.UnixNano()}
	if db.Driver() == DriverPostgres {
		args = []any{t0.UnixNano(), t0.UnixNano(), n}
	}
	if _, err := db.w.ExecContext(context.Background(), fillSQL[db.Driver()], args...); err != nil {
		t.Fatal(err)
	}
}

func testEachSubscriberMemoryFlat(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	const n = 200_000
	start := time.Now()
	fillSubscribers(t, db, n)
	t.Logf("imported %d rows in %v", n, time.Since(start).Round(time.Millisecond))

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	seen := 0
	start = time.Now()
	err := db.EachSubscriber(ctx, Filter{Status: StatusConfirmed}, func(s Subscriber) error {
		seen++
		if seen%20_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("walked %d rows in %v; heap %d KiB before, %d KiB peak", seen, time.Since(start).Round(time.Millisecond), base>>10, peak>>10)
	if seen != n {
		t.Fatalf("saw %d rows, want %d", seen, n)
	}
	// 200k subscribers held at once take well over 40 MiB; a streaming walk
	// holds one page of 1000 plus garbage not yet collected.
	if grow := int64(peak) - int64(base); grow > 32<<20 {
		t.Errorf("heap grew by %d MiB while streaming", grow>>20)
	}
}

func TestStatusAndConsentTogether(t *testing.T) { forEachBackend(t, testStatusAndConsentTogether) }

func testStatusAndConsentTogether(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	sub := ConsentEvent{Kind: ConsentSubscribe, At: t0, IP: "192.0.2.7", Form: "/", Text: "Weekly brief"}
	s, created, err := db.AddSubscriberWithConsent(ctx, Subscriber{Email: "w@example.org", Created: t0}, sub)
	if err != nil || !created {
		t.Fatalf("AddSubscriberWithConsent: %v %v", created, err)
	}
	// A repeat for a known address records nothing.
	if _, created, err := db.AddSubscriberWithConsent(ctx, Subscriber{Email: "W@example.org"}, sub); err != nil || created {
		t.Fatalf("repeat: %v %v", created, err)
	}
	conf := ConsentEvent{Kind: ConsentConfirm, At: t0.Add(time.Hour), IP: "192.0.2.7"}
	if err := db.SetStatusWithConsent(ctx, s.ID, StatusConfirmed, conf); err != nil {
		t.Fatal(err)
	}
	got, _ := db.SubscriberByID(ctx, s.ID)
	if got.Status != StatusConfirmed || !got.Confirmed.Equal(conf.At) {
		t.Errorf("after confirm: %+v", got)
	}
	evs, _ := db.ConsentEvents(ctx, s.ID)
	sub.SubscriberID, conf.SubscriberID = s.ID, s.ID
	if !reflect.DeepEqual(evs, []ConsentEvent{sub, conf}) {
		t.Errorf("events %+v", evs)
	}
	tests := []struct {
		name   string
		id     int64
		status string
		ev     ConsentEvent
		notFnd bool
	}{
		{"missing subscriber", 9999, StatusUnsubscribed, ConsentEvent{Kind: ConsentUnsubscribe, At: t0}, true},
		{"bad status", s.ID, "gone", ConsentEvent{Kind: ConsentUnsubscribe, At: t0}, false},
		{"no kind", s.ID, StatusUnsubscribed, ConsentEvent{At: t0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := db.SetStatusWithConsent(ctx, tc.id, tc.status, tc.ev)
			if err == nil || errors.Is(err, ErrNotFound) != tc.notFnd {
				t.Fatalf("err %v", err)
			}
			if evs, _ := db.ConsentEvents(ctx, s.ID); len(evs) != 2 {
				t.Errorf("a failed change left %d events", len(evs))
			}
			if got, _ := db.SubscriberByID(ctx, s.ID); got.Status != StatusConfirmed {
				t.Errorf("a failed change left status %s", got.Status)
			}
		})
	}
}

// TestEachTopicSet: each distinct topics value among the matching
// subscribers comes once, and the filter applies (an unsubscribed reader's
// set, and another edition's, are not among them).
func TestEachTopicSet(t *testing.T) { forEachBackend(t, testEachTopicSet) }

func testEachTopicSet(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	add := func(email, edition string, topics ...string) int64 {
		s, _, err := db.AddSubscriber(ctx, Subscriber{Email: email, Edition: edition, Topics: topics, Status: StatusConfirmed, Created: t0, Confirmed: t0})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	add("a@example.org", "")
	add("b@example.org", "", "Security")
	add("c@example.org", "weekly", "Security")
	add("d@example.org", "", "Economy", "Security")
	add("e@example.org", "daily", "Sport")
	gone := add("f@example.org", "", "Weather")
	if err := db.SetStatus(ctx, gone, StatusUnsubscribed, t0); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := db.EachTopicSet(ctx, Filter{Status: StatusConfirmed, Edition: "weekly", DefaultEdition: "weekly"}, func(ts []string) error {
		got = append(got, strings.Join(ts, "+"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"", "Economy+Security", "Security"}; !slices.Equal(got, want) {
		t.Fatalf("topic sets %q, want %q", got, want)
	}
}

// checkSQLiteFile checks the file's settings: WAL, foreign keys on the
// writer, and a mode only its owner can read.
func checkSQLiteFile(t *testing.T, db *DB, path string) {
	t.Helper()
	ctx := context.Background()
	var mode string
	if err := db.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
	var fk int
	if err := db.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if fk != 1 {
		t.Errorf("foreign_keys %d on the writer, want 1", fk)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new database file mode: %v %v, want 0600 (it holds personal data)", fi.Mode(), err)
	}
}
