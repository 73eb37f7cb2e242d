package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	sqlite3 "modernc.org/sqlite/lib"
	"strings"
	"time"
)

// Subscriber is one address on the list. Email is unique, compared without
// regard to ASCII case. Edition "" means the default edition. Zero times
// mean "never".
type Subscriber struct {
	ID                               int64
	Email, Name, Status              string
	Topics                           []string
	Edition                          string
	Created, Confirmed, Unsubscribed time.Time
	ConfirmSentAt                    time.Time
	HardBounces, SoftBounces         int
	LastError                        string
	// LastBounce is when RecordBounce last counted a bounce (read-only:
	// UpdateSubscriber leaves it alone).
	LastBounce time.Time
	// Stamp is a random number set when the row is made and never changed:
	// links sign it, so they act on this row alone (package links). 0 for
	// rows made before stamps existed.
	Stamp int64
}

const subscriberCols = `id, email, name, status, topics, edition, created, confirmed,
	unsubscribed, confirm_sent_at, hard_bounces, soft_bounces, last_error, last_bounce, stamp`

type scanner interface{ Scan(dest ...any) error }

func scanSubscriber(sc scanner) (Subscriber, error) {
	var s Subscriber
	var topics string
	var created, confirmed, unsub, sent, bounce sql.NullInt64
	if err := sc.Scan(&s.ID, &s.Email, &s.Name, &s.Status, &topics, &s.Edition, &created,
		&confirmed, &unsub, &sent, &s.HardBounces, &s.SoftBounces, &s.LastError, &bounce, &s.Stamp); err != nil {
		return Subscriber{}, err
	}
	ts, err := decodeTopics(topics)
	if err != nil {
		return Subscriber{}, err
	}
	s.Topics = ts
	s.Created, s.Confirmed, s.Unsubscribed, s.ConfirmSentAt =
		fromNanos(created), fromNanos(confirmed), fromNanos(unsub), fromNanos(sent)
	s.LastBounce = fromNanos(bounce)
	return s, nil
}

// normalise fills the defaults of a new subscriber and checks it.
func normalise(s Subscriber) (Subscriber, error) {
	s.Email = strings.TrimSpace(s.Email)
	if s.Email == "" {
		return s, errors.New("empty email")
	}
	if s.Status == "" {
		s.Status = StatusPending
	}
	if !validStatus(s.Status) {
		return s, fmt.Errorf("invalid status %q", s.Status)
	}
	if s.Created.IsZero() {
		s.Created = time.Now()
	}
	if s.Stamp == 0 {
		s.Stamp = newStamp()
	}
	return s, nil
}

// newStamp returns a random positive stamp.
func newStamp() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1
}

func (db *DB) insertSubscriber(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, s Subscriber) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `INSERT INTO subscribers
		(id, email, name, status, topics, edition, created, confirmed, unsubscribed,
		 confirm_sent_at, hard_bounces, soft_bounces, last_error, stamp)
		VALUES (`+db.d.nextSubscriberID+`,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		s.Email, s.Name, s.Status, encodeTopics(s.Topics), s.Edition, nanos(s.Created),
		nanos(s.Confirmed), nanos(s.Unsubscribed), nanos(s.ConfirmSentAt),
		s.HardBounces, s.SoftBounces, s.LastError, s.Stamp).Scan(&id)
	return id, err
}

// AddSubscriber inserts s (ID ignored; Status "" = pending; Created zero =
// now). When the email exists it returns the existing row and created=false,
// changing nothing, so a repeated web subscribe cannot reset anyone.
func (db *DB) AddSubscriber(ctx context.Context, s Subscriber) (Subscriber, bool, error) {
	return db.addSubscriber(ctx, s, nil)
}

// AddSubscriberWithConsent is AddSubscriber that, when it creates the row,
// appends ev (with SubscriberID set) in the same transaction. For an
// existing address it changes nothing and records nothing.
func (db *DB) AddSubscriberWithConsent(ctx context.Context, s Subscriber, ev ConsentEvent) (Subscriber, bool, error) {
	if ev.Kind == "" || ev.At.IsZero() {
		return Subscriber{}, false, fmt.Errorf("store: add subscriber %s: consent kind and time are required", s.Email)
	}
	return db.addSubscriber(ctx, s, &ev)
}

func (db *DB) addSubscriber(ctx context.Context, s Subscriber, ev *ConsentEvent) (Subscriber, bool, error) {
	s, err := normalise(s)
	if err != nil {
		return Subscriber{}, false, fmt.Errorf("store: add subscriber: %w", err)
	}
	var out Subscriber
	var created bool
	err = db.write(ctx, func(tx *sql.Tx) error {
		out, err = scanSubscriber(tx.QueryRowContext(ctx,
			"SELECT "+subscriberCols+" FROM subscribers WHERE email = ?", s.Email))
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		id, err := db.insertSubscriber(ctx, tx, s)
		if err != nil {
			return err
		}
		if ev != nil {
			ev.SubscriberID = id
			if err := insertConsent(ctx, tx, *ev); err != nil {
				return err
			}
		}
		out, err = scanSubscriber(tx.QueryRowContext(ctx,
			"SELECT "+subscriberCols+" FROM subscribers WHERE id = ?", id))
		created = err == nil
		return err
	})
	if err != nil {
		return Subscriber{}, false, fmt.Errorf("store: add subscriber %s: %w", s.Email, err)
	}
	return out, created, nil
}

// SubscriberByID returns the subscriber or ErrNotFound.
func (db *DB) SubscriberByID(ctx context.Context, id int64) (Subscriber, error) {
	s, err := scanSubscriber(db.r.QueryRowContext(ctx,
		"SELECT "+subscriberCols+" FROM subscribers WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Subscriber{}, fmt.Errorf("store: subscriber %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Subscriber{}, fmt.Errorf("store: subscriber %d: %w", id, err)
	}
	return s, nil
}

// SubscriberStamp returns a subscriber's stamp, found=false when there is
// no such subscriber; it is the links.StampFunc that token checks use.
func (db *DB) SubscriberStamp(ctx context.Context, id int64) (stamp int64, found bool, err error) {
	err = db.r.QueryRowContext(ctx, "SELECT stamp FROM subscribers WHERE id = ?", id).Scan(&stamp)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: stamp of subscriber %d: %w", id, err)
	}
	return stamp, true, nil
}

// SubscriberByEmail returns the subscriber (email compared without regard to
// ASCII case) or ErrNotFound.
func (db *DB) SubscriberByEmail(ctx context.Context, email string) (Subscriber, error) {
	email = strings.TrimSpace(email)
	s, err := scanSubscriber(db.r.QueryRowContext(ctx,
		"SELECT "+subscriberCols+" FROM subscribers WHERE email = ?", email))
	if errors.Is(err, sql.ErrNoRows) {
		return Subscriber{}, fmt.Errorf("store: subscriber %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return Subscriber{}, fmt.Errorf("store: subscriber %s: %w", email, err)
	}
	return s, nil
}

// UpdateSubscriber writes every mutable field of s (all but ID and Created)
// to the row with s.ID, or returns ErrNotFound.
func (db *DB) UpdateSubscriber(ctx context.Context, s Subscriber) error {
	s.Email = strings.TrimSpace(s.Email)
	if s.Email == "" {
		return fmt.Errorf("store: update subscriber %d: empty email", s.ID)
	}
	if !validStatus(s.Status) {
		return fmt.Errorf("store: update subscriber %d: invalid status %q", s.ID, s.Status)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE subscribers SET email = ?, name = ?, status = ?,
		topics = ?, edition = ?, confirmed = ?, unsubscribed = ?, confirm_sent_at = ?,
		hard_bounces = ?, soft_bounces = ?, last_error = ? WHERE id = ?`,
		s.Email, s.Name, s.Status, encodeTopics(s.Topics), s.Edition, nanos(s.Confirmed),
		nanos(s.Unsubscribed), nanos(s.ConfirmSentAt), s.HardBounces, s.SoftBounces,
		s.LastError, s.ID)
	return affectedOne(res, err, fmt.Sprintf("update subscriber %d", s.ID))
}

// affectedOne turns a zero-row update into ErrNotFound.
func affectedOne(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

// SetStatus changes a subscriber's status. Confirming stamps Confirmed and
// clears Unsubscribed (a resubscribe is fresh consent); unsubscribing stamps
// Unsubscribed. Other timestamps are left as they were.
func (db *DB) SetStatus(ctx context.Context, id int64, status string, at time.Time) error {
	res, err := setStatus(ctx, db.w, id, status, at)
	return affectedOne(res, err, fmt.Sprintf("set status of subscriber %d", id))
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func setStatus(ctx context.Context, q execer, id int64, status string, at time.Time) (sql.Result, error) {
	switch status {
	case StatusConfirmed:
		return q.ExecContext(ctx,
			"UPDATE subscribers SET status = ?, confirmed = ?, unsubscribed = NULL WHERE id = ?",
			status, nanos(at), id)
	case StatusUnsubscribed:
		return q.ExecContext(ctx,
			"UPDATE subscribers SET status = ?, unsubscribed = ? WHERE id = ?",
			status, nanos(at), id)
	case StatusPending, StatusBounced:
		return q.ExecContext(ctx, "UPDATE subscribers SET status = ? WHERE id = ?", status, id)
	}
	return nil, fmt.Errorf("invalid status %q", status)
}

// SetStatusWithConsent is SetStatus at ev.At plus AddConsent(ev) in one
// transaction, so a confirmation or unsubscribe is never recorded without
// its proof (or the other way round). ev.SubscriberID is set to id.
func (db *DB) SetStatusWithConsent(ctx context.Context, id int64, status string, ev ConsentEvent) error {
	what := fmt.Sprintf("set status of subscriber %d", id)
	ev.SubscriberID = id
	if ev.Kind == "" || ev.At.IsZero() {
		return fmt.Errorf("store: %s: consent kind and time are required", what)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := setStatus(ctx, tx, id, status, ev.At)
		if err := affectedOne(res, err, what); err != nil {
			return err
		}
		return insertConsent(ctx, tx, ev)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err // already says what
		}
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// SetPreferences replaces a subscriber's topics and edition.
func (db *DB) SetPreferences(ctx context.Context, id int64, topics []string, edition string) error {
	res, err := db.w.ExecContext(ctx, "UPDATE subscribers SET topics = ?, edition = ? WHERE id = ?",
		encodeTopics(topics), edition, id)
	return affectedOne(res, err, fmt.Sprintf("set preferences of subscriber %d", id))
}

// DeleteSubscriber erases a subscriber with its consent events and delivery
// rows (erasure means all of it), or returns ErrNotFound.
func (db *DB) DeleteSubscriber(ctx context.Context, email string) error {
	email = strings.TrimSpace(email)
	res, err := db.w.ExecContext(ctx, "DELETE FROM subscribers WHERE email = ?", email)
	return affectedOne(res, err, "delete subscriber "+email)
}

// Filter selects subscribers. Empty fields match anything. When Edition is
// set and equals DefaultEdition, subscribers with no edition ("") match too.
type Filter struct {
	Status         string
	Edition        string
	DefaultEdition string
}

func asIs(col string) string { return col }

// where returns the filter's SQL conditions, each column written as col
// makes it. A keyset walk passes dialect.noIndex, which keeps the (status,
// edition) index out: a page must walk the primary key in order, and the
// index would make every page sort all matching rows.
func (f Filter) where(col func(string) string) (string, []any) {
	var conds []string
	var args []any
	if f.Status != "" {
		conds = append(conds, col("status")+" = ?")
		args = append(args, f.Status)
	}
	if f.Edition != "" {
		if f.Edition == f.DefaultEdition {
			conds = append(conds, col("edition")+" IN (?, '')")
		} else {
			conds = append(conds, col("edition")+" = ?")
		}
		args = append(args, f.Edition)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(conds, " AND "), args
}

// eachBatch is the page size of EachSubscriber.
const eachBatch = 1000

// EachSubscriber calls fn for each matching subscriber in id order. It reads
// pages of eachBatch rows by key and holds no transaction or open cursor
// while fn runs, so memory stays flat and fn may write to the store. An
// error from fn stops the walk and is returned as is.
func (db *DB) EachSubscriber(ctx context.Context, f Filter, fn func(Subscriber) error) error {
	cond, args := f.where(db.d.noIndex)
	query := "SELECT " + subscriberCols + " FROM subscribers WHERE id > ?" + cond +
		" ORDER BY id LIMIT " + fmt.Sprint(eachBatch)
	var last int64
	page := make([]Subscriber, 0, eachBatch)
	for {
		page = page[:0]
		rows, err := db.r.QueryContext(ctx, query, append([]any{last}, args...)...)
		if err != nil {
			return fmt.Errorf("store: list subscribers: %w", err)
		}
		for rows.Next() {
			s, err := scanSubscriber(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: list subscribers: %w", err)
			}
			page = append(page, s)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("store: list subscribers: %w", err)
		}
		for _, s := range page {
			if err := fn(s); err != nil {
				return err
			}
		}
		if len(page) < eachBatch {
			return nil
		}
		last = page[len(page)-1].ID
	}
}

// EachTopicSet calls fn once for each distinct topics value among the
// matching subscribers (nil for none chosen), in no particular order. An
// issue renders one variant per topic set; reading only the distinct values
// spares decoding every subscriber. An error from fn stops the walk.
func (db *DB) EachTopicSet(ctx context.Context, f Filter, fn func(topics []string) error) error {
	cond, args := f.where(asIs)
	rows, err := db.r.QueryContext(ctx, "SELECT DISTINCT topics FROM subscribers WHERE 1 = 1"+cond, args...)
	if err != nil {
		return fmt.Errorf("store: topic sets: %w", err)
	}
	var sets [][]string
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return fmt.Errorf("store: topic sets: %w", err)
		}
		ts, err := decodeTopics(raw)
		if err != nil {
			rows.Close()
			return fmt.Errorf("store: topic sets: %w", err)
		}
		sets = append(sets, ts)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("store: topic sets: %w", err)
	}
	// fn runs with no cursor open, so it may use the store.
	for _, ts := range sets {
		if err := fn(ts); err != nil {
			return err
		}
	}
	return nil
}

// CountSubscribers counts the matching subscribers.
func (db *DB) CountSubscribers(ctx context.Context, f Filter) (int, error) {
	cond, args := f.where(asIs)
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM subscribers WHERE 1 = 1"+cond, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count subscribers: %w", err)
	}
	return n, nil
}

// ExpirePending deletes subscribers still pending that were created before
// `before`, and returns how many. Their consent events go with them: an
// unconfirmed double opt-in is no consent, and keeping the address would be
// keeping personal data without a reason.
func (db *DB) ExpirePending(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM subscribers WHERE status = 'pending' AND created < ?",
		before.UTC().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: expire pending: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: expire pending: %w", err)
	}
	return n, nil
}

// RecordBounce counts a hard (permanent) or soft bounce for a subscriber,
// keeps reason as its last error, and marks it bounced when hard_bounces
// reaches hardLimit or soft_bounces reaches softLimit (a limit <= 0 turns
// that rule off). An unsubscribed subscriber stays unsubscribed. It returns
// whether the subscriber is bounced now.
func (db *DB) RecordBounce(ctx context.Context, subscriberID int64, hard bool, reason string, hardLimit, softLimit int, at time.Time) (bool, error) {
	col := "soft_bounces"
	if hard {
		col = "hard_bounces"
	}
	var status string
	err := db.write(ctx, func(tx *sql.Tx) error {
		var hb, sb int
		err := tx.QueryRowContext(ctx, "UPDATE subscribers SET "+col+" = "+col+" + 1, last_error = ?, last_bounce = ? WHERE id = ? RETURNING status, hard_bounces, soft_bounces",
			reason, nanos(at), subscriberID).Scan(&status, &hb, &sb)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		over := (hardLimit > 0 && hb >= hardLimit) || (softLimit > 0 && sb >= softLimit)
		if !over || status == StatusBounced || status == StatusUnsubscribed {
			return nil
		}
		status = StatusBounced
		_, err = tx.ExecContext(ctx, "UPDATE subscribers SET status = 'bounced' WHERE id = ?", subscriberID)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: record bounce of subscriber %d: %w", subscriberID, err)
	}
	return status == StatusBounced, nil
}

// isForeignKey reports whether err is a foreign key violation, from either
// backend: SQLite's extended code or PostgreSQL's SQLSTATE 23503.
func isForeignKey(err error) bool {
	return err != nil && (sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY || pgCode(err) == "23503")
}
