package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeout is how long a statement waits for another process's write
// lock before failing with SQLITE_BUSY. Our own writers queue on the single
// writer connection instead, so this only matters across processes (two
// daemons, or a CLI command beside a daemon).
const busyTimeout = 10 * time.Second

var sqliteDialect = &dialect{
	name:  DriverSQLite,
	hints: true,
	// The trigger of migration 0002 refuses anything else.
	nextSubscriberID: "(SELECT last + 1 FROM id_high_water WHERE name = 'subscribers')",
	claimOpen:        "LIMIT ?",
	afterImport:      sqliteAfterImport,
	markDeliveries: markSet + `(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS status,
			json_extract(value, '$[2]') AS error, json_extract(value, '$[3]') AS attempts,
			json_extract(value, '$[4]') AS at
		FROM json_each(?)) AS m
	WHERE deliveries.id = m.id AND deliveries.status != 'sent'`,
	version: func(ctx context.Context, tx *sql.Tx) (int, error) {
		var v int
		err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
		return v, err
	},
	setVersion: func(ctx context.Context, tx *sql.Tx, v int) error {
		// PRAGMA takes no bound parameters; the value is our own integer.
		_, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(v))
		return err
	},
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// Open opens (creating if needed) the SQLite database at path and applies
// any pending migrations. path must be a file: ":memory:" would give the
// writer and the readers different databases.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	if strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || strings.Contains(path, ":memory:") {
		return nil, fmt.Errorf("store: open %s: path must be a plain file name", path)
	}
	// The file holds personal data: when we are the one creating it, only
	// its owner may read it (SQLite gives -wal and -shm the same mode).
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	ms := strconv.FormatInt(busyTimeout.Milliseconds(), 10)
	// synchronous=NORMAL in WAL mode is durable against a crash or kill of
	// the process (what the delivery ledger must survive); only a power loss
	// can roll back the last commits, which would resend at most a batch.
	common := "_pragma=busy_timeout(" + ms + ")&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := migrate(ctx, w, sqliteDialect); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// The readers are opened after the writer has switched the file to WAL
	// (journal_mode is persistent), so they never need a write lock.
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &DB{w: w, r: r, d: sqliteDialect}, nil
}
