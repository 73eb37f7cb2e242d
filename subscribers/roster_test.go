package subscribers

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
)

func newRosterEnv(t *testing.T) (*Roster, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	r, err := NewRoster(RosterOptions{Store: db, Topics: []string{"Security", "Economy"}, Editions: []string{"weekly", "daily"},
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return r, db
}

func kinds(t *testing.T, db *store.DB, email string) []string {
	t.Helper()
	s, err := db.SubscriberByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := db.ConsentEvents(context.Background(), s.ID)
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Kind)
	}
	return out
}

// TestExportImportRoundTrip: every status survives export → import into a
// new store; nobody comes back confirmed.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, srcDB := newRosterEnv(t)
	in := "email,name,topics,edition,status,created\n" +
		"conf@example.org,Con,Security,daily,confirmed,2025-01-02T03:04:05Z\n" +
		"pend@example.org,,,,pending,2025-02-01T00:00:00Z\n" +
		"left@example.org,Lefty,,weekly,unsubscribed,2024-12-24T10:00:00Z\n" +
		"gone@example.org,,,,bounced,2024-06-30\n" +
		"vouched@example.org,,Economy,,,\n"
	rep, err := src.Import(ctx, strings.NewReader(in))
	if err != nil || rep.Added != 5 || len(rep.Refused) != 0 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	var first bytes.Buffer
	if err := src.Export(ctx, &first, store.Filter{}); err != nil {
		t.Fatal(err)
	}
	dst, dstDB := newRosterEnv(t)
	if _, err := dst.Import(ctx, bytes.NewReader(first.Bytes())); err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if err := dst.Export(ctx, &second, store.Filter{}); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Fatalf("round trip differs:\n%s\nvs\n%s", first.String(), second.String())
	}
	for email, want := range map[string]string{
		"conf@example.org": store.StatusConfirmed, "pend@example.org": store.StatusPending,
		"left@example.org": store.StatusUnsubscribed, "gone@example.org": store.StatusBounced,
		"vouched@example.org": store.StatusConfirmed,
	} {
		for _, db := range []*store.DB{srcDB, dstDB} {
			s, err := db.SubscriberByEmail(ctx, email)
			if err != nil || s.Status != want {
				t.Errorf("%s: %s (%v), want %s", email, s.Status, err, want)
			}
		}
	}
	c, _ := dstDB.SubscriberByEmail(ctx, "conf@example.org")
	if !c.Created.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) || c.Edition != "daily" || !slices.Equal(c.Topics, []string{"Security"}) {
		t.Errorf("fields lost on the way: %+v", c)
	}
	if !strings.HasPrefix(first.String(), "email,name,topics,edition,status,created\n") {
		t.Errorf("export header: %q", strings.SplitN(first.String(), "\n", 2)[0])
	}
}

// TestConsentIsNeverInvented: neither add nor import makes an address that
// left confirmed; each change is recorded with its consent event.
func TestConsentIsNeverInvented(t *testing.T) {
	ctx := context.Background()
	r, db := newRosterEnv(t)
	seed := "email,status\nleft@example.org,unsubscribed\nbounced@example.org,bounced\npend@example.org,pending\nconf@example.org,confirmed\n"
	if _, err := r.Import(ctx, strings.NewReader(seed)); err != nil {
		t.Fatal(err)
	}
	// add: refused for those who left, confirms a pending one.
	for _, email := range []string{"left@example.org", "bounced@example.org"} {
		if _, _, err := r.Add(ctx, AddRequest{Email: email}); !errors.Is(err, ErrWithdrawn) {
			t.Errorf("add %s: %v, want ErrWithdrawn", email, err)
		}
	}
	if s, created, err := r.Add(ctx, AddRequest{Email: "pend@example.org", Name: "P"}); err != nil || created || s.Status != store.StatusConfirmed || s.Name != "P" {
		t.Fatalf("add of a pending address: %+v %v %v", s, created, err)
	}
	if got := kinds(t, db, "pend@example.org"); !slices.Equal(got, []string{store.ConsentImport, store.ConsentAdd}) {
		t.Errorf("pending → confirmed recorded as %v", got)
	}
	// import: a file saying confirmed changes nothing for those who left;
	// a file saying unsubscribed takes a confirmed one off, with a record.
	again := "email,name,status\nleft@example.org,Back,confirmed\nbounced@example.org,,\nconf@example.org,,unsubscribed\npend@example.org,,pending\n"
	rep, err := r.Import(ctx, strings.NewReader(again))
	if err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]string{
		"left@example.org": store.StatusUnsubscribed, "bounced@example.org": store.StatusBounced,
		"conf@example.org": store.StatusUnsubscribed, "pend@example.org": store.StatusConfirmed,
	} {
		s, _ := db.SubscriberByEmail(ctx, email)
		if s.Status != want {
			t.Errorf("%s after the second import: %s, want %s", email, s.Status, want)
		}
	}
	if s, _ := db.SubscriberByEmail(ctx, "left@example.org"); s.Name != "Back" {
		t.Errorf("the rest of the row still applies: name %q", s.Name)
	}
	if got := kinds(t, db, "conf@example.org"); !slices.Equal(got, []string{store.ConsentImport, store.ConsentImport}) {
		t.Errorf("confirmed → unsubscribed recorded as %v", got)
	}
	if rep.Updated != 2 || rep.Unchanged != 2 {
		t.Errorf("report %+v", rep)
	}
	// Operator mistakes are named.
	var ce *ChoiceError
	if _, _, err := r.Add(ctx, AddRequest{Email: "x@example.org", Topics: []string{"Sport"}}); !errors.As(err, &ce) || ce.Name != "Sport" {
		t.Errorf("unknown topic: %v", err)
	}
	var ae *AddressError
	if _, _, err := r.Add(ctx, AddRequest{Email: "not an address"}); !errors.As(err, &ae) {
		t.Errorf("bad address: %v", err)
	}
	if err := r.Remove(ctx, "nobody@example.org"); !errors.Is(err, ErrNotListed) {
		t.Errorf("remove of an unknown address: %v", err)
	}
	bad, err := r.Import(ctx, strings.NewReader("email,status,created\na@example.org,maybe,\nb@example.org,,yesterday\n"))
	if err != nil || len(bad.Refused) != 2 || !strings.Contains(bad.Refused[0].Error(), "unknown status") || !strings.Contains(bad.Refused[1].Error(), "RFC 3339") {
		t.Errorf("bad rows: %+v %v", bad.Refused, err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"Ann Reader":                          "Ann Reader",
		"=?UTF-8?B?QmFuayBTdXBwb3J0?=":        "",
		"Ann =?utf-8?q?Bank_Support?= Reader": "Ann Reader",
		"Ann\r\nBcc: x@y.org":                 "Ann Bcc: x@y.org",
		"Ann\u202eredaeR":                     "Ann redaeR",
		"  lots   of\tspace ":                 "lots of space",
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
	// Removing one encoded-word must not leave another behind.
	for _, in := range []string{"=?=?UTF-8?B?QQ==?=UTF-8?B?QQ==?=", "=?UTF-8?Q?=3D?=?UTF-8?B?QQ==?=", "a=?x?q?=?=?x?q?b?=c"} {
		got := cleanName(in)
		if dec, err := new(mime.WordDecoder).DecodeHeader(got); encodedWord.MatchString(got) || (err == nil && dec != got) {
			t.Errorf("cleanName(%q) = %q still decodes to %q", in, got, dec)
		}
	}
	if got := cleanName(strings.Repeat("é", 80)); len(got) > maxNameLen {
		t.Errorf("%d bytes", len(got))
	}
}
