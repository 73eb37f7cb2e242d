package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ConsentEvent is one step of a subscriber's consent history: what was
// agreed to, when, from where and through which form and wording.
type ConsentEvent struct {
	SubscriberID              int64
	Kind                      string
	At                        time.Time
	IP, UserAgent, Form, Text string
}

// AddConsent appends a consent event; ErrNotFound if the subscriber is not
// there.
func (db *DB) AddConsent(ctx context.Context, ev ConsentEvent) error {
	if ev.Kind == "" || ev.At.IsZero() {
		return fmt.Errorf("store: add consent for subscriber %d: kind and time are required", ev.SubscriberID)
	}
	if err := insertConsent(ctx, db.w, ev); err != nil {
		return fmt.Errorf("store: add consent for subscriber %d: %w", ev.SubscriberID, err)
	}
	return nil
}

func insertConsent(ctx context.Context, q execer, ev ConsentEvent) error {
	_, err := q.ExecContext(ctx, `INSERT INTO consent_events
		(subscriber_id, kind, at, ip, user_agent, form, text) VALUES (?,?,?,?,?,?,?)`,
		ev.SubscriberID, ev.Kind, nanos(ev.At), ev.IP, ev.UserAgent, ev.Form, ev.Text)
	if isForeignKey(err) {
		return ErrNotFound
	}
	return err
}

// ConsentEvents returns a subscriber's consent history, oldest first.
func (db *DB) ConsentEvents(ctx context.Context, subscriberID int64) ([]ConsentEvent, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT subscriber_id, kind, at, ip, user_agent, form, text
		FROM consent_events WHERE subscriber_id = ? ORDER BY id`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("store: consent events of %d: %w", subscriberID, err)
	}
	defer rows.Close()
	var evs []ConsentEvent
	for rows.Next() {
		var ev ConsentEvent
		var at sql.NullInt64
		if err := rows.Scan(&ev.SubscriberID, &ev.Kind, &at, &ev.IP, &ev.UserAgent, &ev.Form, &ev.Text); err != nil {
			return nil, fmt.Errorf("store: consent events of %d: %w", subscriberID, err)
		}
		ev.At = fromNanos(at)
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: consent events of %d: %w", subscriberID, err)
	}
	return evs, nil
}
