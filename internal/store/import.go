package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ImportStats counts what Import did.
type ImportStats struct{ Added, Updated, Unchanged int }

// ImportRow is one subscriber to import: the row to insert when the
// address is new (status and times as given), and the consent event that
// records it.
type ImportRow struct {
	Subscriber Subscriber
	Consent    ConsentEvent
}

// Import reads rows from next until it returns false, in one transaction
// with prepared statements. A new address is inserted as given, with its
// consent event. For an address already on the list, merge decides what
// changes (the subscription rules live with the caller, which knows what an
// operator may and may not do to a reader's choice); the change and its
// consent event are written in the same transaction. An error from next or
// merge aborts the whole import. next and merge run inside the write
// transaction, which holds the store's only writer connection: they may
// read from the store but must not write to it.
func (db *DB) Import(ctx context.Context, next func() (ImportRow, bool, error), merge func(cur Subscriber, row ImportRow) (Change, error)) (ImportStats, error) {
	var st ImportStats
	err := db.write(ctx, func(tx *sql.Tx) error {
		find, err := tx.PrepareContext(ctx, "SELECT "+subscriberCols+" FROM subscribers WHERE email = ?")
		if err != nil {
			return err
		}
		defer find.Close()
		ins, err := tx.PrepareContext(ctx, `INSERT INTO subscribers
			(id, email, name, status, topics, edition, created, confirmed, unsubscribed, stamp)
			VALUES (`+db.d.nextSubscriberID+`, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (email) DO NOTHING RETURNING id`)
		if err != nil {
			return err
		}
		defer ins.Close()
		consent, err := tx.PrepareContext(ctx, `INSERT INTO consent_events
			(subscriber_id, kind, at, ip, user_agent, form, text) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer consent.Close()
		for n := 1; ; n++ {
			row, ok, err := next()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			s, err := normalise(row.Subscriber)
			if err != nil {
				return fmt.Errorf("row %d: %w", n, err)
			}
			ev := row.Consent
			if ev.Kind == "" || ev.At.IsZero() {
				return fmt.Errorf("row %d (%s): consent kind and time are required", n, s.Email)
			}
			// Most rows of an import are new: try the insert first and look
			// the row up only when the address is already there.
			var id int64
			err = ins.QueryRowContext(ctx, s.Email, s.Name, s.Status, encodeTopics(s.Topics), s.Edition,
				nanos(s.Created), nanos(s.Confirmed), nanos(s.Unsubscribed), s.Stamp).Scan(&id)
			if err == nil {
				if _, err := consent.ExecContext(ctx, id, ev.Kind, nanos(ev.At), ev.IP, ev.UserAgent, ev.Form, ev.Text); err != nil {
					return fmt.Errorf("row %d (%s): %w", n, s.Email, err)
				}
				st.Added++
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("row %d (%s): %w", n, s.Email, err)
			}
			cur, err := scanSubscriber(find.QueryRowContext(ctx, s.Email))
			if err != nil {
				return fmt.Errorf("row %d (%s): %w", n, s.Email, err)
			}
			c, err := merge(cur, ImportRow{Subscriber: s, Consent: ev})
			if err != nil {
				return fmt.Errorf("row %d (%s): %w", n, s.Email, err)
			}
			if c.IsZero() {
				st.Unchanged++
				continue
			}
			if err := applyChange(ctx, tx, cur.ID, c); err != nil {
				return fmt.Errorf("row %d (%s): %w", n, strings.TrimSpace(s.Email), err)
			}
			st.Updated++
		}
	})
	if err != nil {
		return ImportStats{}, fmt.Errorf("store: import: %w", err)
	}
	return st, nil
}
