package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outbox statuses: a row goes pending → sent | failed (given up).
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// OutboxMail is one transactional message (a confirmation, a welcome
// issue, a help reply) waiting for the outbox worker.
type OutboxMail struct {
	ID   int64
	Kind string
	// SubscriberID is the subscriber the mail is about, 0 for none. Removing
	// the subscriber removes their unsent mail.
	SubscriberID int64
	Message      []byte // opaque to the store
	Status       string
	Created      time.Time
	Due          time.Time // not before; zero means Created
	Attempts     int       // claims so far, this one included
	Error        string
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func insertOutbox(ctx context.Context, q queryRower, m OutboxMail) (int64, error) {
	if m.Kind == "" || len(m.Message) == 0 || m.Created.IsZero() {
		return 0, errors.New("outbox mail needs a kind, a message and a creation time")
	}
	if m.Due.IsZero() {
		m.Due = m.Created
	}
	var sub any
	if m.SubscriberID != 0 {
		sub = m.SubscriberID
	}
	var id int64
	err := q.QueryRowContext(ctx, `INSERT INTO outbox (kind, subscriber_id, message, created, due)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, m.Kind, sub, m.Message, nanos(m.Created), nanos(m.Due)).Scan(&id)
	if isForeignKey(err) {
		return 0, ErrNotFound
	}
	return id, err
}

// Enqueue stores m for the outbox worker and returns its id. Mail caused by
// a change to a subscriber goes in with the change (Change.Mail) instead.
func (db *DB) Enqueue(ctx context.Context, m OutboxMail) (int64, error) {
	var id int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = insertOutbox(ctx, tx, m)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: enqueue %s mail: %w", m.Kind, err)
	}
	return id, nil
}

// Budget limits how many rows of one kind a claim may take: a generic
// cell rate algorithm (a token bucket kept as one time per budget, in the
// store, so every process shares it) allowing one row every Every and
// bursts of Burst.
type Budget struct {
	Name  string // the rate_budgets row
	Kind  string // the outbox kind it limits
	Every time.Duration
	Burst int
}

// Claim asks for due outbox rows.
type Claim struct {
	Holder string    // who claims (host:pid:random)
	Now    time.Time // due rows are those with due <= Now
	Until  time.Time // the claim expires then if the holder does not mark the row
	Limit  int
	// Budget, when set, limits the rows of its kind. Those are taken
	// newest first: after a flood of sign-ups, the next real reader is
	// not queued behind thousands of old requests.
	Budget *Budget
}

// ClaimOutbox claims due pending rows in one short transaction, so that
// no two workers (in this or another process) send the same row; on
// PostgreSQL the same selects take FOR UPDATE SKIP LOCKED. Each claimed
// row's Attempts counts this claim.
func (db *DB) ClaimOutbox(ctx context.Context, c Claim) ([]OutboxMail, error) {
	if c.Holder == "" || c.Limit <= 0 || !c.Until.After(c.Now) {
		return nil, errors.New("store: claim outbox: holder, limit and a claim time after now are required")
	}
	now := nanos(c.Now)
	const due = ` FROM outbox WHERE status = 'pending' AND due <= ? AND (claimed_until IS NULL OR claimed_until <= ?)`
	var out []OutboxMail
	err := db.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		var ids []int64
		other, args := "", []any{now, now}
		if c.Budget != nil {
			other, args = " AND kind <> ?", append(args, c.Budget.Kind)
		}
		got, err := queryIDs(ctx, tx, "SELECT id"+due+other+" ORDER BY due, id LIMIT ?", append(args, c.Limit)...)
		if err != nil {
			return err
		}
		ids = append(ids, got...)
		if b := c.Budget; b != nil && len(ids) < c.Limit {
			tat, err := budgetTAT(ctx, tx, b.Name)
			if err != nil {
				return err
			}
			n := gcraAllowed(tat, c.Now, b, c.Limit-len(ids))
			if n > 0 {
				got, err := queryIDs(ctx, tx, "SELECT id"+due+" AND kind = ? ORDER BY id DESC LIMIT ?", now, now, b.Kind, n)
				if err != nil {
					return err
				}
				ids = append(ids, got...)
				if len(got) > 0 {
					if err := setBudgetTAT(ctx, tx, b.Name, gcraAdvance(tat, c.Now, b, len(got))); err != nil {
						return err
					}
				}
			}
		}
		if len(ids) == 0 {
			return nil
		}
		args = []any{c.Holder, nanos(c.Until)}
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
			WHERE id IN (`+placeholders(len(ids))+`)
			RETURNING id, kind, coalesce(subscriber_id, 0), message, status, created, due, attempts, error`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		byID := map[int64]OutboxMail{}
		for rows.Next() {
			var m OutboxMail
			var created, dueAt sql.NullInt64
			if err := rows.Scan(&m.ID, &m.Kind, &m.SubscriberID, &m.Message, &m.Status, &created, &dueAt, &m.Attempts, &m.Error); err != nil {
				return err
			}
			m.Created, m.Due = fromNanos(created), fromNanos(dueAt)
			byID[m.ID] = m
		}
		// RETURNING comes in no promised order: keep the claim's.
		for _, id := range ids {
			out = append(out, byID[id])
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	return out, nil
}

func queryIDs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// budgetTAT reads a budget's theoretical arrival time (zero: never used).
func budgetTAT(ctx context.Context, tx *sql.Tx, name string) (time.Time, error) {
	var tat sql.NullInt64
	err := tx.QueryRowContext(ctx, "SELECT tat FROM rate_budgets WHERE name = ?", name).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return fromNanos(tat), err
}

func setBudgetTAT(ctx context.Context, tx *sql.Tx, name string, tat time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO rate_budgets (name, tat) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET tat = excluded.tat`, name, nanos(tat))
	return err
}

// gcraAllowed counts how many of up to max cells conform at now: a cell
// conforms while the arrival time is at most now + (Burst-1)·Every.
func gcraAllowed(tat, now time.Time, b *Budget, max int) int {
	if b.Every <= 0 {
		return max
	}
	limit := now.Add(time.Duration(b.Burst-1) * b.Every)
	n := 0
	for n < max && !tat.After(limit) {
		if tat.Before(now) {
			tat = now
		}
		tat = tat.Add(b.Every)
		n++
	}
	return n
}

// gcraAdvance is the arrival time after n cells at now.
func gcraAdvance(tat, now time.Time, b *Budget, n int) time.Time {
	for range n {
		if tat.Before(now) {
			tat = now
		}
		tat = tat.Add(b.Every)
	}
	return tat
}

// outboxMark ends (or postpones) a claimed row; the holder must still hold
// the claim, so a worker whose claim expired and was taken over cannot
// undo the newer holder's work.
func (db *DB) outboxMark(ctx context.Context, what string, id int64, holder, set string, args ...any) error {
	res, err := db.w.ExecContext(ctx, "UPDATE outbox SET "+set+", claimed_by = '', claimed_until = NULL WHERE id = ? AND claimed_by = ? AND status = 'pending'",
		append(args, id, holder)...)
	return affectedOne(res, err, fmt.Sprintf("%s outbox mail %d", what, id))
}

// OutboxSent marks a claimed row sent at at.
func (db *DB) OutboxSent(ctx context.Context, id int64, holder string, at time.Time) error {
	return db.outboxMark(ctx, "mark sent", id, holder, "status = 'sent', sent = ?, error = ''", nanos(at))
}

// OutboxRetry gives a claimed row back, due again at due.
func (db *DB) OutboxRetry(ctx context.Context, id int64, holder string, due time.Time, reason string) error {
	return db.outboxMark(ctx, "retry", id, holder, "due = ?, error = ?", nanos(due), truncateText(reason))
}

// OutboxFailed gives up on a claimed row.
func (db *DB) OutboxFailed(ctx context.Context, id int64, holder, reason string) error {
	return db.outboxMark(ctx, "give up", id, holder, "status = 'failed', error = ?", truncateText(reason))
}

func truncateText(s string) string {
	if len(s) > 1000 {
		s = strings.ToValidUTF8(s[:1000], "")
	}
	return s
}

// OutboxMails returns the rows of a kind (all kinds for ""), oldest first,
// for tests and the status command.
func (db *DB) OutboxMails(ctx context.Context, kind string) ([]OutboxMail, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, kind, coalesce(subscriber_id, 0), message, status, created, due, attempts, error
		FROM outbox WHERE ? = '' OR kind = ? ORDER BY id`, kind, kind)
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxMail
	for rows.Next() {
		var m OutboxMail
		var created, due sql.NullInt64
		if err := rows.Scan(&m.ID, &m.Kind, &m.SubscriberID, &m.Message, &m.Status, &created, &due, &m.Attempts, &m.Error); err != nil {
			return nil, fmt.Errorf("store: outbox: %w", err)
		}
		m.Created, m.Due = fromNanos(created), fromNanos(due)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	return out, nil
}

// NextOutboxDue returns when the earliest pending row falls due (or its
// claim expires), ok=false when nothing is pending.
func (db *DB) NextOutboxDue(ctx context.Context) (time.Time, bool, error) {
	var due sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT min(CASE WHEN claimed_until > due THEN claimed_until ELSE due END)
		FROM outbox WHERE status = 'pending'`).Scan(&due)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: outbox next due: %w", err)
	}
	return fromNanos(due), due.Valid, nil
}

// PurgeOutbox deletes sent and failed rows finished before before (the
// message bodies are personal data with no further use) and returns how
// many.
func (db *DB) PurgeOutbox(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM outbox WHERE status <> 'pending' AND created < ?", nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: purge outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purge outbox: %w", err)
	}
	return n, nil
}
