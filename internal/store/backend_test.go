package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/digest-newsletter/digest/internal/testenv"
)

// The store's tests are one contract: each runs against every backend, as
// a subtest named after it. A PostgreSQL subtest gets a fresh database on
// the real server (testenv.Postgres: skipped locally without one, failed in
// CI).
type backend struct {
	name    string
	options func(t testing.TB) Options
}

var (
	sqliteBackend = backend{DriverSQLite, func(t testing.TB) Options {
		return Options{Driver: DriverSQLite, Path: filepath.Join(t.TempDir(), "digest.db")}
	}}
	postgresBackend = backend{DriverPostgres, func(t testing.TB) Options {
		return Options{Driver: DriverPostgres, URL: testenv.Postgres(t)}
	}}
	backends = []backend{sqliteBackend, postgresBackend}
)

func forEachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { fn(t, be) })
	}
}

// openTest opens a fresh store of the backend, closed when t ends, and
// returns the options that open it again (a second process's handle).
func openTest(t testing.TB, be backend) (*DB, Options) {
	t.Helper()
	opts := be.options(t)
	db, err := OpenWith(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open %s: %v", be.name, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db, opts
}

// openAgain opens a second handle on the store opts names (another process,
// in effect), closed when t ends.
func openAgain(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := OpenWith(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
