package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FeedState returns the validators remembered for a feed URL for a
// conditional GET; "", "", nil when none are known.
func (db *DB) FeedState(ctx context.Context, url string) (etag, lastModified string, err error) {
	err = db.r.QueryRowContext(ctx, "SELECT etag, last_modified FROM feed_state WHERE url = ?", url).
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
func (db *DB) SetFeedState(ctx context.Context, url, etag, lastModified string) error {
	var err error
	if etag == "" && lastModified == "" {
		_, err = db.w.ExecContext(ctx, "DELETE FROM feed_state WHERE url = ?", url)
	} else {
		_, err = db.w.ExecContext(ctx, `INSERT INTO feed_state (url, etag, last_modified) VALUES (?, ?, ?)
			ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified`,
			url, etag, lastModified)
	}
	if err != nil {
		return fmt.Errorf("store: set feed state %s: %w", url, err)
	}
	return nil
}

// seenChunk bounds the number of bound parameters per statement.
const seenChunk = 500

// SeenArticles returns which of ids were already sent in an issue (or
// otherwise marked seen). Ids not seen are absent from the map.
func (db *DB) SeenArticles(ctx context.Context, ids []string) (map[string]bool, error) {
	seen := make(map[string]bool)
	for start := 0; start < len(ids); start += seenChunk {
		chunk := ids[start:min(start+seenChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := db.r.QueryContext(ctx,
			"SELECT article_id FROM seen_articles WHERE article_id IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("store: seen articles: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: seen articles: %w", err)
			}
			seen[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: seen articles: %w", err)
		}
	}
	return seen, nil
}

// MarkSeen records ids as sent in issueID (0 = no issue) at `at`. An id
// already seen keeps its first issue.
func (db *DB) MarkSeen(ctx context.Context, ids []string, issueID int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	var issue any
	if issueID != 0 {
		issue = issueID
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO seen_articles (article_id, issue_id, at) VALUES (?, ?, ?)
			ON CONFLICT (article_id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, id, issue, at.UTC().UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: mark %d articles seen: %w", len(ids), err)
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
		ON CONFLICT (edition) DO UPDATE SET slot = max(slot, excluded.slot)`, edition, nanos(slot))
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
