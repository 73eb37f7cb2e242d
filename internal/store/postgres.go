package store

import (
	"context"
	"errors"
)

// openPostgres opens the PostgreSQL store at url.
func openPostgres(ctx context.Context, url string) (*DB, error) {
	return nil, errors.New("store: postgres: not yet")
}
