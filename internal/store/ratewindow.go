package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// HitRateWindow counts one event for key at now in a fixed window of the
// given length, shared by every process on the store, and returns the
// events counted in the current window (this one included) and when that
// window ends. The first event of a key, or the first after its window
// ended, starts a new window at now. The caller compares n with its limit;
// refused events are counted too, which changes nothing for a caller that
// refuses every event past its limit until ends.
//
// It is one INSERT … ON CONFLICT DO UPDATE, atomic on both backends (the
// row's conflict lock orders two processes hitting one key), so it takes
// no serialising write lock: a flood of sign-ups does not queue behind, or
// hold up, the store's write transactions beyond its own statement.
//
// Keys are namespaced by the caller ("signup " + IP); rows outlive their
// window until PruneRateWindows removes them.
func (db *DB) HitRateWindow(ctx context.Context, key string, now time.Time, window time.Duration) (n int64, ends time.Time, err error) {
	if key == "" || window <= 0 {
		return 0, time.Time{}, errors.New("store: rate window: a key and a positive window are required")
	}
	at := now.UTC().UnixNano()
	end := now.Add(window).UTC().UnixNano()
	var e int64
	err = db.w.QueryRowContext(ctx, `INSERT INTO rate_windows (key, n, ends) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET
			n = CASE WHEN rate_windows.ends <= ? THEN 1 ELSE rate_windows.n + 1 END,
			ends = CASE WHEN rate_windows.ends <= ? THEN excluded.ends ELSE rate_windows.ends END
		RETURNING n, ends`, key, end, at, at).Scan(&n, &e)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: rate window %q: %w", key, err)
	}
	return n, time.Unix(0, e).UTC(), nil
}

// PruneRateWindows deletes the windows that ended at or before now and
// returns how many. A window that ended counts nothing any more (the next
// hit of its key starts afresh), so pruning changes no answer; it keeps the
// table as small as the keys seen in one window. The caller runs it (the
// sign-up throttle does every so many hits), since the store keeps no
// per-handle state to do it by itself.
func (db *DB) PruneRateWindows(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM rate_windows WHERE ends <= ?`, now.UTC().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: prune rate windows: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune rate windows: %w", err)
	}
	return n, nil
}
