package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FeedStates is one edition's memory of feed validators for conditional
// GET (it satisfies collect.FeedState). Editions fetch on their own
// schedules: a validator saved by the daily edition's fetch would turn the
// weekly one's next fetch into a 304 and lose it the feed's items.
type FeedStates struct {
	db      *DB
	edition string
}

// FeedStates returns the edition's feed validators.
func (db *DB) FeedStates(edition string) FeedStates { return FeedStates{db: db, edition: edition} }

// FeedState returns the validators remembered for a feed URL; "", "", nil
// when none are known.
func (f FeedStates) FeedState(ctx context.Context, url string) (etag, lastModified string, err error) {
	err = f.db.r.QueryRowContext(ctx, "SELECT etag, last_modified FROM feed_state WHERE edition = ? AND url = ?", f.edition, url).
		Scan(&etag, &lastModified)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("store: feed state %s: %w", url, err)
	}
	return etag, lastModified, nil
}

// SetFeedState remembers a feed's validators; both empty forgets them.
func (f FeedStates) SetFeedState(ctx context.Context, url, etag, lastModified string) error {
	var err error
	if etag == "" && lastModified == "" {
		_, err = f.db.w.ExecContext(ctx, "DELETE FROM feed_state WHERE edition = ? AND url = ?", f.edition, url)
	} else {
		_, err = f.db.w.ExecContext(ctx, `INSERT INTO feed_state (edition, url, etag, last_modified) VALUES (?, ?, ?, ?)
			ON CONFLICT (edition, url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified`,
			f.edition, url, etag, lastModified)
	}
	if err != nil {
		return fmt.Errorf("store: set feed state %s: %w", url, err)
	}
	return nil
}

// seenChunk bounds the number of bound parameters per statement.
const seenChunk = 500

// SeenArticles returns which of keys the edition already sent in an issue
// (or has otherwise marked seen); keys not seen are absent from the map.
// One query per 500 keys. Keys recorded for no edition ("") count for all.
func (db *DB) SeenArticles(ctx context.Context, edition string, keys []string) (map[string]bool, error) {
	seen := make(map[string]bool)
	for start := 0; start < len(keys); start += seenChunk {
		chunk := keys[start:min(start+seenChunk, len(keys))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, edition)
		for _, k := range chunk {
			args = append(args, k)
		}
		if err := db.collectSeen(ctx, seen, "SELECT article_id FROM seen_articles WHERE edition IN (?, '') AND article_id IN ("+
			placeholders(len(chunk))+")", args...); err != nil {
			return nil, err
		}
	}
	return seen, nil
}

// SeenSince returns every key the edition recorded at or after `since`, in
// one query. An issue records its articles at its own time, which is after
// they were published, so every article published after since that an
// earlier issue sent is among them.
func (db *DB) SeenSince(ctx context.Context, edition string, since time.Time) (map[string]bool, error) {
	seen := make(map[string]bool)
	if err := db.collectSeen(ctx, seen, "SELECT article_id FROM seen_articles WHERE edition IN (?, '') AND at >= ?",
		edition, since.UTC().UnixNano()); err != nil {
		return nil, err
	}
	return seen, nil
}

func (db *DB) collectSeen(ctx context.Context, into map[string]bool, query string, args ...any) error {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: seen articles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("store: seen articles: %w", err)
		}
		into[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: seen articles: %w", err)
	}
	return nil
}

// markSeen records keys as sent in the edition by issueID (0 = no issue)
// at `at`, inside tx. A key already seen keeps its first issue. CreateIssue
// does this for an issue's own articles in its transaction.
func markSeen(ctx context.Context, tx *sql.Tx, edition string, keys []string, issueID int64, at time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	var issue any
	if issueID != 0 {
		issue = issueID
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO seen_articles (edition, article_id, issue_id, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (edition, article_id) DO NOTHING`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, k := range keys {
		if _, err := st.ExecContext(ctx, edition, k, issue, at.UTC().UnixNano()); err != nil {
			return err
		}
	}
	return nil
}

// AcquireLease takes the named lease for holder until now+ttl when it is
// free, expired, or already held by holder (which renews it), and reports
// whether holder has it now. It is how two daemons on one store agree that
// only one of them sends. Clocks are the callers': holders on one machine
// (or with synchronised clocks) are assumed.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("store: acquire lease %q: name, holder and a positive ttl are required", name)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE leases.holder = excluded.holder OR leases.expires <= ?`,
		name, holder, now.Add(ttl).UTC().UnixNano(), now.UTC().UnixNano())
	if err != nil {
		return false, fmt.Errorf("store: acquire lease %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: acquire lease %q: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up the lease if holder has it; otherwise it does
// nothing (the lease expired and someone else took it).
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.w.ExecContext(ctx, "DELETE FROM leases WHERE name = ? AND holder = ?", name, holder); err != nil {
		return fmt.Errorf("store: release lease %q: %w", name, err)
	}
	return nil
}

// LastSlot returns the last scheduled slot the daemon handled for an
// edition, so missed slots can be caught up after downtime.
func (db *DB) LastSlot(ctx context.Context, edition string) (time.Time, bool, error) {
	var n sql.NullInt64
	err := db.r.QueryRowContext(ctx, "SELECT slot FROM schedule_slots WHERE edition = ?", edition).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: last slot of %s: %w", edition, err)
	}
	return fromNanos(n), true, nil
}

// SetLastSlot records slot as handled for the edition. It only moves
// forward, so a slow daemon finishing an older slot cannot rewind it.
func (db *DB) SetLastSlot(ctx context.Context, edition string, slot time.Time) error {
	if slot.IsZero() {
		return fmt.Errorf("store: set last slot of %s: zero slot", edition)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO schedule_slots (edition, slot) VALUES (?, ?)
		ON CONFLICT (edition) DO UPDATE
		SET slot = CASE WHEN excluded.slot > schedule_slots.slot THEN excluded.slot ELSE schedule_slots.slot END`, edition, nanos(slot))
	if err != nil {
		return fmt.Errorf("store: set last slot of %s: %w", edition, err)
	}
	return nil
}

// InboundProcessed reports whether the inbound message key (for example
// mailbox+UIDVALIDITY+UID, or the Message-ID) was already handled.
func (db *DB) InboundProcessed(ctx context.Context, key string) (bool, error) {
	var one int
	err := db.r.QueryRowContext(ctx, "SELECT 1 FROM inbound_processed WHERE key = ?", key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: inbound processed %q: %w", key, err)
	}
	return true, nil
}

// MarkInboundProcessed records key as handled; marking it again is a no-op.
func (db *DB) MarkInboundProcessed(ctx context.Context, key string, at time.Time) error {
	_, err := db.ClaimInbound(ctx, key, at)
	return err
}

// ClaimInbound records key as handled and reports whether this call did
// it: false means some earlier call (or another process) already had, so
// the message must not be acted on again.
func (db *DB) ClaimInbound(ctx context.Context, key string, at time.Time) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("store: claim inbound: empty key")
	}
	res, err := db.w.ExecContext(ctx, "INSERT INTO inbound_processed (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
		key, at.UTC().UnixNano())
	if err != nil {
		return false, fmt.Errorf("store: claim inbound %q: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim inbound %q: %w", key, err)
	}
	return n == 1, nil
}

// PruneInbound forgets inbound keys handled before `before`; a message
// older than the mailbox's retention cannot come back.
func (db *DB) PruneInbound(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM inbound_processed WHERE at < ?", before.UTC().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: prune inbound: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune inbound: %w", err)
	}
	return n, nil
}
