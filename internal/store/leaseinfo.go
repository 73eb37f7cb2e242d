package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LeaseHolder returns who holds the named lease and when it expires. A
// lease past its expiry is returned as it is (its holder stopped renewing
// and nobody has taken it yet): the caller compares expires with its own
// clock, as AcquireLease does. No lease row is ErrNotFound, wrapped.
func (db *DB) LeaseHolder(ctx context.Context, name string) (holder string, expires time.Time, err error) {
	var exp sql.NullInt64
	err = db.r.QueryRowContext(ctx, "SELECT holder, expires FROM leases WHERE name = ?", name).Scan(&holder, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("store: lease %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("store: lease %q: %w", name, err)
	}
	return holder, fromNanos(exp), nil
}
