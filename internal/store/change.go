package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Change is one step in a subscriber's life as the subscription rules
// decided it, written in one transaction together with the consent event
// that proves it and the mail it causes: a confirmation is never stored
// without its consent record, nor a confirmation mail queued for an
// address whose subscribe request was not recorded. The zero Change
// writes nothing.
type Change struct {
	// SetName replaces the name with Name.
	SetName bool
	Name    string
	// SetPreferences replaces topics and edition.
	SetPreferences bool
	Topics         []string
	Edition        string
	// Status, when set, changes the status at At with the timestamps of
	// SetStatus (confirming clears Unsubscribed, unsubscribing stamps it).
	Status string
	At     time.Time
	// ConfirmSentAt, when set, records that a confirmation was queued.
	ConfirmSentAt time.Time
	// Consent and Mail are written with SubscriberID set to the row's id.
	Consent *ConsentEvent
	Mail    *OutboxMail
	// Touch rewrites the row unchanged: a request that changes nothing
	// then costs a write like one that does, so its timing does not tell
	// them apart.
	Touch bool
}

// IsZero reports whether c writes nothing.
func (c Change) IsZero() bool {
	return !c.SetName && !c.SetPreferences && c.Status == "" && c.ConfirmSentAt.IsZero() && c.Consent == nil && c.Mail == nil && !c.Touch
}

// UpsertSubscriber finds the subscriber with s's email, or inserts s (as
// AddSubscriber does) when there is none, and then applies the change
// decide returns for the row, all in one transaction. decide runs inside
// the write transaction: it must be quick and must not use the store. An
// error from decide rolls everything back and is returned wrapped.
func (db *DB) UpsertSubscriber(ctx context.Context, s Subscriber, decide func(cur Subscriber, created bool) (Change, error)) (Subscriber, bool, error) {
	s, err := normalise(s)
	if err != nil {
		return Subscriber{}, false, fmt.Errorf("store: upsert subscriber: %w", err)
	}
	var out Subscriber
	var created bool
	err = db.write(ctx, func(tx *sql.Tx) error {
		cur, err := scanSubscriber(tx.QueryRowContext(ctx, "SELECT "+subscriberCols+" FROM subscribers WHERE email = ?", s.Email))
		if errors.Is(err, sql.ErrNoRows) {
			id, err := db.insertSubscriber(ctx, tx, s)
			if err != nil {
				return err
			}
			created = true
			cur, err = scanSubscriber(tx.QueryRowContext(ctx, "SELECT "+subscriberCols+" FROM subscribers WHERE id = ?", id))
			if err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		out, err = decideAndApply(ctx, tx, cur, func(cur Subscriber) (Change, error) { return decide(cur, created) })
		return err
	})
	if err != nil {
		return Subscriber{}, false, fmt.Errorf("store: upsert subscriber %s: %w", s.Email, err)
	}
	return out, created, nil
}

// ChangeSubscriber applies the change decide returns for the subscriber
// with id, in one transaction, and returns the row as it is after it. A
// missing subscriber is ErrNotFound. decide runs inside the write
// transaction: it must be quick and must not use the store.
func (db *DB) ChangeSubscriber(ctx context.Context, id int64, decide func(cur Subscriber) (Change, error)) (Subscriber, error) {
	var out Subscriber
	err := db.write(ctx, func(tx *sql.Tx) error {
		cur, err := scanSubscriber(tx.QueryRowContext(ctx, "SELECT "+subscriberCols+" FROM subscribers WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = decideAndApply(ctx, tx, cur, decide)
		return err
	})
	if err != nil {
		return Subscriber{}, fmt.Errorf("store: change subscriber %d: %w", id, err)
	}
	return out, nil
}

func decideAndApply(ctx context.Context, tx *sql.Tx, cur Subscriber, decide func(Subscriber) (Change, error)) (Subscriber, error) {
	c, err := decide(cur)
	if err != nil {
		return Subscriber{}, err
	}
	if c.IsZero() {
		return cur, nil
	}
	if err := applyChange(ctx, tx, cur.ID, c); err != nil {
		return Subscriber{}, err
	}
	return scanSubscriber(tx.QueryRowContext(ctx, "SELECT "+subscriberCols+" FROM subscribers WHERE id = ?", cur.ID))
}

// applyChange writes c to subscriber id inside tx.
func applyChange(ctx context.Context, tx *sql.Tx, id int64, c Change) error {
	if c.Touch {
		if _, err := tx.ExecContext(ctx, "UPDATE subscribers SET stamp = stamp WHERE id = ?", id); err != nil {
			return err
		}
	}
	if c.SetName {
		if _, err := tx.ExecContext(ctx, "UPDATE subscribers SET name = ? WHERE id = ?", c.Name, id); err != nil {
			return err
		}
	}
	if c.SetPreferences {
		if _, err := tx.ExecContext(ctx, "UPDATE subscribers SET topics = ?, edition = ? WHERE id = ?",
			encodeTopics(c.Topics), c.Edition, id); err != nil {
			return err
		}
	}
	if c.Status != "" {
		at := c.At
		if at.IsZero() && c.Consent != nil {
			at = c.Consent.At
		}
		if at.IsZero() {
			return fmt.Errorf("status %s without a time", c.Status)
		}
		if _, err := setStatus(ctx, tx, id, c.Status, at); err != nil {
			return err
		}
	}
	if !c.ConfirmSentAt.IsZero() {
		if _, err := tx.ExecContext(ctx, "UPDATE subscribers SET confirm_sent_at = ? WHERE id = ?", nanos(c.ConfirmSentAt), id); err != nil {
			return err
		}
	}
	if c.Consent != nil {
		ev := *c.Consent
		ev.SubscriberID = id
		if ev.Kind == "" || ev.At.IsZero() {
			return errors.New("consent kind and time are required")
		}
		if err := insertConsent(ctx, tx, ev); err != nil {
			return err
		}
	}
	if c.Mail != nil {
		m := *c.Mail
		m.SubscriberID = id
		if _, err := insertOutbox(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
}
