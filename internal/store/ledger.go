package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The ledger is shared by every sender of an issue. A sender claims a batch
// of open rows (pending or failed_temp) in one short write transaction that
// commits before any SMTP, renews its claims while it works, and marks each
// row when the server has answered. A claim whose holder died expires at its
// claimed_until, and the rows go to whoever claims next, so a dead sender
// costs at most the messages it had in flight. Claim times are the
// callers' clocks: senders on one machine, or with synchronised clocks.
//
// On PostgreSQL the claim's subquery ends FOR UPDATE SKIP LOCKED (see
// dialect.claimOpen), so concurrent claimers take disjoint batches without
// waiting on each other, and claims and marks skip the store's write lock.

// Delivery is one ledger row joined with its subscriber as it is now.
type Delivery struct {
	ID                       int64
	IssueID, SubscriberID    int64
	Email, Name, Edition     string
	Topics                   []string
	SubscriberStatus, Status string
	Attempts                 int
	Error                    string
	// SubscriberStamp signs the subscriber's links (package links).
	SubscriberStamp int64
}

// ClaimDeliveries claims up to limit open rows of the issue that no live
// claim holds (none, or one expired by now) for holder until `until`, and
// returns them joined with their subscribers, in id order. Rows whose
// subscriber is no longer confirmed come too, with SubscriberStatus telling
// why: the caller marks them skipped. An empty result means every open row
// is claimed (see OtherClaims) or none is left.
func (db *DB) ClaimDeliveries(ctx context.Context, issueID int64, holder string, limit int, now, until time.Time) ([]Delivery, error) {
	if holder == "" || limit <= 0 || !until.After(now) {
		return nil, fmt.Errorf("store: claim deliveries of issue %d: holder, a positive limit and a future expiry are required", issueID)
	}
	var ids []any
	err := db.writeRows(ctx, func(tx *sql.Tx) error {
		// INDEXED BY (SQLite): the (issue_id, status) index reaches the
		// open rows without walking the sent ones, so a claim costs the
		// same at the end of a million-row issue as at its start.
		rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET claimed_by = ?, claimed_until = ?, tried = 0
			WHERE id IN (SELECT id FROM deliveries`+db.d.indexedBy("deliveries_issue_status")+`
				WHERE issue_id = ? AND status IN ('pending', 'failed_temp')
				AND (claimed_until IS NULL OR claimed_until <= ?)
				`+db.d.claimOpen+`)
			RETURNING id`, holder, nanos(until), issueID, nanos(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim deliveries of issue %d: %w", issueID, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// The rows are ours now: read them on a reader, outside the write lock
	// the marks queue on.
	out, err := db.claimedRows(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("store: claim deliveries of issue %d: %w", issueID, err)
	}
	return out, nil
}

func (db *DB) claimedRows(ctx context.Context, ids []any) ([]Delivery, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT d.id, d.issue_id, d.subscriber_id, s.email, s.name, s.edition, s.topics,
		s.status, d.status, d.attempts, d.error, s.stamp
		FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
		WHERE d.id IN (`+placeholders(len(ids))+`) ORDER BY d.id`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Delivery, 0, len(ids))
	for rows.Next() {
		var d Delivery
		var topics string
		if err := rows.Scan(&d.ID, &d.IssueID, &d.SubscriberID, &d.Email, &d.Name, &d.Edition,
			&topics, &d.SubscriberStatus, &d.Status, &d.Attempts, &d.Error, &d.SubscriberStamp); err != nil {
			return nil, err
		}
		if d.Topics, err = decodeTopics(topics); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RenewClaims extends every claim holder has on the issue's open rows to
// `until`, and returns how many there are. A row another sender took after
// holder's claim expired is not holder's any more and stays untouched.
func (db *DB) RenewClaims(ctx context.Context, issueID int64, holder string, until time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, "UPDATE deliveries SET claimed_until = ? WHERE claimed_by = ? AND issue_id = ?",
		nanos(until), holder, issueID)
	if err != nil {
		return 0, fmt.Errorf("store: renew claims of issue %d: %w", issueID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: renew claims of issue %d: %w", issueID, err)
	}
	return n, nil
}

// ReleaseClaims gives back the rows holder still claims on the issue
// (left open by a stop, or failed temporarily in this run), so another
// sender can take them at once instead of after the expiry.
func (db *DB) ReleaseClaims(ctx context.Context, issueID int64, holder string) error {
	if _, err := db.w.ExecContext(ctx, "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND issue_id = ?",
		holder, issueID); err != nil {
		return fmt.Errorf("store: release claims of issue %d: %w", issueID, err)
	}
	return nil
}

// OtherClaims counts the issue's open rows that senders other than holder
// claim, have not tried yet and whose claim has not expired by now, and
// returns the earliest expiry among them: a sender that found nothing to
// claim waits for those to be marked or to expire before it calls the
// issue done. Rows another sender tried and holds until its run ends are
// not waited for: two senders holding each other's failures would wait
// forever.
func (db *DB) OtherClaims(ctx context.Context, issueID int64, holder string, now time.Time) (int, time.Time, error) {
	var n int
	var next sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT count(*), min(claimed_until) FROM deliveries`+db.d.indexedBy("deliveries_issue_status")+`
		WHERE issue_id = ? AND status IN ('pending', 'failed_temp') AND claimed_until > ? AND claimed_by != ? AND tried = 0`,
		issueID, nanos(now), holder).Scan(&n, &next)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: claims on issue %d: %w", issueID, err)
	}
	return n, fromNanos(next), nil
}

// Mark is a status change of one delivery row. Attempts is the new total
// (not an increment).
type Mark struct {
	DeliveryID int64
	Status     string
	Error      string
	Attempts   int
	At         time.Time
}

// MarkDeliveries applies marks in one statement, which is what lets the
// ledger keep up with SMTP: the marks travel as one JSON array, so a group
// costs one statement however large. A row already sent stays sent (nothing
// can un-send a message), and a mark for a row that no longer exists (its
// subscriber was erased) is ignored, so one stale mark never loses the
// batch. A row marked done (sent, failed_perm, skipped) drops its claim; one
// marked pending or failed_temp keeps it, as tried, until its holder
// releases it, so one run tries a row once. Of two marks for one row the
// later wins.
func (db *DB) MarkDeliveries(ctx context.Context, marks []Mark) error {
	if len(marks) == 0 {
		return nil
	}
	for _, m := range marks {
		if !validDeliveryStatus(m.Status) {
			return fmt.Errorf("store: mark delivery %d: invalid status %q", m.DeliveryID, m.Status)
		}
	}
	db.markOnce.Do(func() {
		db.mark, db.markErr = db.w.PrepareContext(context.WithoutCancel(ctx), db.d.markDeliveries)
	})
	if db.markErr != nil {
		return fmt.Errorf("store: mark deliveries: prepare: %w", db.markErr)
	}
	arg, err := markJSON(marks, time.Now())
	if err != nil {
		return fmt.Errorf("store: mark %d deliveries: %w", len(marks), err)
	}
	err = db.writeRows(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, db.mark).ExecContext(ctx, arg)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: mark %d deliveries: %w", len(marks), err)
	}
	return nil
}

// markJSON encodes marks as [[id, status, error, attempts, at], ...], one
// per row, the last of several marks for a row kept. A zero At is now.
func markJSON(marks []Mark, now time.Time) (string, error) {
	last := make(map[int64]int, len(marks))
	for i, m := range marks {
		last[m.DeliveryID] = i
	}
	b := make([]byte, 0, 64*len(marks))
	b = append(b, '[')
	for i, m := range marks {
		if last[m.DeliveryID] != i {
			continue
		}
		at := m.At
		if at.IsZero() {
			at = now
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, m.DeliveryID, 10)
		b = append(b, ',', '"')
		b = append(b, m.Status...) // a valid status: plain ASCII
		b = append(b, '"', ',')
		e, err := json.Marshal(m.Error)
		if err != nil {
			return "", err
		}
		b = append(b, e...)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(m.Attempts), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, at.UTC().UnixNano(), 10)
		b = append(b, ']')
	}
	return string(append(b, ']')), nil
}

// SentTo returns the address of one subscriber the issue reached, if any:
// a known-good recipient to probe the relay with.
func (db *DB) SentTo(ctx context.Context, issueID int64) (string, bool, error) {
	var email string
	err := db.r.QueryRowContext(ctx, `SELECT s.email FROM deliveries d`+db.d.indexedBy("deliveries_issue_status")+`
		JOIN subscribers s ON s.id = d.subscriber_id
		WHERE d.issue_id = ? AND d.status = 'sent' LIMIT 1`, issueID).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: a recipient of issue %d: %w", issueID, err)
	}
	return email, true, nil
}
