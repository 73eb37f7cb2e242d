package subscribers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
)

// RosterStore is the part of the store the list rules need; *store.DB
// satisfies it.
type RosterStore interface {
	UpsertSubscriber(ctx context.Context, s store.Subscriber, decide func(cur store.Subscriber, created bool) (store.Change, error)) (store.Subscriber, bool, error)
	DeleteSubscriber(ctx context.Context, email string) error
	Import(ctx context.Context, next func() (store.ImportRow, bool, error), merge func(cur store.Subscriber, row store.ImportRow) (store.Change, error)) (store.ImportStats, error)
	EachSubscriber(ctx context.Context, f store.Filter, fn func(store.Subscriber) error) error
}

// Roster holds the rules about who is on the list and how they get there,
// for the web flow (Service), the command line and CSV files alike:
//   - consent is never invented: an address that unsubscribed or bounced
//     is made confirmed only by its owner, through the web flow or by
//     email, never by the operator (add, import);
//   - what the operator vouches for is confirmed: add, and import rows
//     without a status;
//   - every status change is written with its consent event, in one
//     transaction;
//   - topics and editions are the configured ones: the operator is told
//     about an unknown one, a web visitor's is dropped.
type Roster struct {
	st       RosterStore
	topics   []string
	editions []string // editions[0] is the default edition
	now      func() time.Time
	log      *slog.Logger
}

// RosterOptions configures a Roster. Store is required.
type RosterOptions struct {
	Store    RosterStore
	Topics   []string // [[topics]] names, in config order
	Editions []string // [[editions]] names, the default first
	Now      func() time.Time
	Logger   *slog.Logger
}

// NewRoster returns the list rules over o.Store.
func NewRoster(o RosterOptions) (*Roster, error) {
	if o.Store == nil {
		return nil, errors.New("subscribers: roster: no store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	eds := slices.Clone(o.Editions)
	if len(eds) == 0 {
		eds = []string{"default"}
	}
	return &Roster{st: o.Store, topics: slices.Clone(o.Topics), editions: eds, now: o.Now, log: o.Logger}, nil
}

// ChoiceError is an unknown topic or edition given by the operator.
type ChoiceError struct {
	What, Name string
	Known      []string
}

func (e *ChoiceError) Error() string {
	return fmt.Sprintf("unknown %s %q (known: %s)", e.What, e.Name, strings.Join(e.Known, ", "))
}

// ErrWithdrawn is an operator's attempt to put back on the list an
// address whose owner unsubscribed or that bounced.
var ErrWithdrawn = errors.New("only its owner can subscribe it again (web form or email)")

// ErrNotListed is a remove of an address that is not on the list.
var ErrNotListed = errors.New("subscribers: not on the list")

// CheckAdd checks an operator's add against the configured topics and
// editions without touching the store (the command line checks before it
// opens, and so creates, a store). Errors: *AddressError, *ChoiceError.
func CheckAdd(req AddRequest, topics, editions []string) error {
	if _, err := NormalizeAddress(req.Email); err != nil {
		return err
	}
	for _, t := range req.Topics {
		if len(topics) > 0 && !slices.Contains(topics, t) {
			return &ChoiceError{What: "topic", Name: t, Known: topics}
		}
	}
	if req.Edition != "" && len(editions) > 0 && !slices.Contains(editions, req.Edition) {
		return &ChoiceError{What: "edition", Name: req.Edition, Known: editions}
	}
	return nil
}

// AddRequest is an operator's add.
type AddRequest struct {
	Email, Name string
	Topics      []string // nil: all topics (or, for a known address, as they were)
	Edition     string   // "": the default edition (or as it was)
}

// Add puts an address on the list as confirmed: the operator vouches for
// it. A known address gets the name, topics and edition given (those left
// empty stay), and a pending one is confirmed. An address that unsubscribed
// or bounced is refused with ErrWithdrawn. Errors: *AddressError,
// *ChoiceError, ErrWithdrawn.
func (r *Roster) Add(ctx context.Context, req AddRequest) (sub store.Subscriber, created bool, err error) {
	if err := CheckAdd(req, r.topics, r.editions); err != nil {
		return store.Subscriber{}, false, err
	}
	email, _ := NormalizeAddress(req.Email)
	now := r.now()
	name := cleanName(req.Name)
	ev := &store.ConsentEvent{Kind: store.ConsentAdd, At: now, Form: "cli", Text: "added by the operator"}
	sub, created, err = r.st.UpsertSubscriber(ctx, store.Subscriber{
		Email: email, Name: name, Status: store.StatusConfirmed, Topics: req.Topics, Edition: req.Edition,
		Created: now, Confirmed: now,
	}, func(cur store.Subscriber, created bool) (store.Change, error) {
		if created {
			return store.Change{Consent: ev}, nil
		}
		c, err := r.vouch(cur, store.StatusConfirmed, ev)
		if err != nil {
			return store.Change{}, err
		}
		mergeFields(&c, cur, name, req.Topics, req.Edition)
		return c, nil
	})
	if err != nil {
		return store.Subscriber{}, false, fmt.Errorf("subscribers: add %s: %w", email, err)
	}
	return sub, created, nil
}

// vouch is the status change the operator's word makes to cur: it takes
// mail away (unsubscribed, bounced) or confirms a pending address, never
// brings back one whose owner left. ev is recorded with a change.
func (r *Roster) vouch(cur store.Subscriber, want string, ev *store.ConsentEvent) (store.Change, error) {
	withdrawn := cur.Status == store.StatusUnsubscribed || cur.Status == store.StatusBounced
	switch {
	case want == store.StatusConfirmed && withdrawn:
		return store.Change{}, fmt.Errorf("%s is %s: %w", cur.Email, cur.Status, ErrWithdrawn)
	case want == store.StatusConfirmed && cur.Status == store.StatusPending,
		(want == store.StatusUnsubscribed || want == store.StatusBounced) && !withdrawn:
		return store.Change{Status: want, At: ev.At, Consent: ev}, nil
	}
	// Confirmed stays confirmed when the file says pending; a withdrawn
	// address keeps its own status.
	return store.Change{}, nil
}

// mergeFields adds to c the name, topics and edition given that differ
// from cur's (empty ones leave the field as it is).
func mergeFields(c *store.Change, cur store.Subscriber, name string, topics []string, edition string) {
	if name != "" && name != cur.Name {
		c.SetName, c.Name = true, name
	}
	newTopics, newEdition := cur.Topics, cur.Edition
	if len(topics) > 0 {
		newTopics = topics
	}
	if edition != "" {
		newEdition = edition
	}
	if !slices.Equal(newTopics, cur.Topics) || newEdition != cur.Edition {
		c.SetPreferences, c.Topics, c.Edition = true, newTopics, newEdition
	}
}

// Remove erases an address and its history (consent events, deliveries,
// unsent mail). Its id is never given to anyone else, so the links in its
// old emails work for nobody. Errors: *AddressError, ErrNotListed.
func (r *Roster) Remove(ctx context.Context, email string) error {
	email, err := NormalizeAddress(email)
	if err != nil {
		return err
	}
	if err := r.st.DeleteSubscriber(ctx, email); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: %w", email, ErrNotListed)
		}
		return fmt.Errorf("subscribers: remove: %w", err)
	}
	r.log.InfoContext(ctx, "subscriber removed")
	return nil
}

// ImportReport is what Import did: the store's counts and the rows it
// refused, by line.
type ImportReport struct {
	store.ImportStats
	Refused []*RowError
}

// Import reads CSV (the columns of Columns) and imports the good rows in
// one transaction; bad rows are reported by line and skipped. A row
// without status is confirmed (the operator vouches); one with a status
// keeps it, so export → import on a new store is a round trip. For an
// address already on the list the row's status is applied only when it
// takes mail away or confirms a pending address (vouch); name, topics and
// edition given replace those stored.
func (r *Roster) Import(ctx context.Context, in io.Reader) (ImportReport, error) {
	rd, err := NewCSVReader(in, r.topicNames(), r.editions)
	if err != nil {
		return ImportReport{}, err
	}
	at := r.now()
	next := func() (store.ImportRow, bool, error) {
		row, ok, err := rd.Next()
		if !ok || err != nil {
			return store.ImportRow{}, ok, err
		}
		return r.importRow(row, at), true, nil
	}
	merge := func(cur store.Subscriber, row store.ImportRow) (store.Change, error) {
		ev := row.Consent
		c, err := r.vouch(cur, row.Subscriber.Status, &ev)
		if err != nil && !errors.Is(err, ErrWithdrawn) {
			return store.Change{}, err
		}
		// A withdrawn address in the file as confirmed keeps its status
		// (no error: the rest of the row still applies).
		mergeFields(&c, cur, row.Subscriber.Name, row.Subscriber.Topics, row.Subscriber.Edition)
		return c, nil
	}
	st, err := r.st.Import(ctx, next, merge)
	rep := ImportReport{ImportStats: st, Refused: rd.Errors}
	if err != nil {
		return rep, fmt.Errorf("subscribers: import: %w", err)
	}
	return rep, nil
}

// topicNames is the allowed topics for the CSV reader (nil: any).
func (r *Roster) topicNames() []string {
	if len(r.topics) == 0 {
		return nil
	}
	return r.topics
}

// importRow is the subscriber a CSV row makes when its address is new.
func (r *Roster) importRow(row Row, at time.Time) store.ImportRow {
	s := store.Subscriber{
		Email: row.Email, Name: row.Name, Topics: row.Topics, Edition: row.Edition,
		Status: row.Status, Created: row.Created,
	}
	if s.Status == "" {
		s.Status = store.StatusConfirmed
	}
	if s.Created.IsZero() {
		s.Created = at
	}
	switch s.Status {
	case store.StatusConfirmed:
		s.Confirmed = at
	case store.StatusUnsubscribed:
		s.Unsubscribed = at
	}
	return store.ImportRow{Subscriber: s, Consent: store.ConsentEvent{
		Kind: store.ConsentImport, At: at, Form: "import", Text: "imported by the operator as " + s.Status,
	}}
}

// Export writes the subscribers matching f as CSV (Columns).
func (r *Roster) Export(ctx context.Context, w io.Writer, f store.Filter) error {
	cw, err := NewCSVWriter(w)
	if err != nil {
		return err
	}
	if err := r.st.EachSubscriber(ctx, f, cw.Write); err != nil {
		return fmt.Errorf("subscribers: export: %w", err)
	}
	return cw.Flush()
}

// Each calls fn for each subscriber matching f, streaming.
func (r *Roster) Each(ctx context.Context, f store.Filter, fn func(store.Subscriber) error) error {
	return r.st.EachSubscriber(ctx, f, fn)
}

// cleanTopics keeps the known topic names a visitor chose, in config
// order. Choosing every topic (or none) is stored as "all topics", so
// topics added to the config later reach those readers too.
func (r *Roster) cleanTopics(in []string) []string {
	var out []string
	for _, t := range r.topics {
		if slices.ContainsFunc(in, func(x string) bool { return strings.EqualFold(strings.TrimSpace(x), t) }) {
			out = append(out, t)
		}
	}
	if len(out) == len(r.topics) {
		return nil
	}
	return out
}

// cleanEdition returns a known edition name, or "" (the default edition).
func (r *Roster) cleanEdition(e string) string {
	e = strings.TrimSpace(e)
	if slices.Contains(r.editions, e) {
		return e
	}
	return ""
}
