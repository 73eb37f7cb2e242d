// Package store is digest's SQLite persistence: subscribers and their consent
// history, issues and the per-recipient delivery ledger, feed validators, seen
// articles, leases between daemons and exactly-once markers for inbound mail.
//
// It uses modernc.org/sqlite (pure Go). SQLite allows one writer at a time, so
// a DB holds two pools: a single-connection writer whose transactions start
// with BEGIN IMMEDIATE (the write lock is taken up front, so two writers never
// deadlock upgrading a read lock, and other processes wait on busy_timeout),
// and a pool of read-only connections that WAL lets run beside the writer.
// Write transactions are kept short; streaming reads (EachSubscriber) page
// by key and hold no transaction between pages, so the caller may write
// while it reads. Senders share an issue's ledger by claiming batches of
// rows (ledger.go).
//
// Times are stored as UTC unix nanoseconds and come back as time.Time in UTC;
// the zero time is stored as NULL and comes back as the zero time.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Subscriber statuses.
const (
	StatusPending      = "pending"
	StatusConfirmed    = "confirmed"
	StatusUnsubscribed = "unsubscribed"
	StatusBounced      = "bounced"
)

// Delivery statuses: one ledger row per (issue, subscriber) goes
// pending → sent | failed_temp (retried) | failed_perm | skipped.
const (
	DeliveryPending    = "pending"
	DeliverySent       = "sent"
	DeliveryFailedTemp = "failed_temp"
	DeliveryFailedPerm = "failed_perm"
	DeliverySkipped    = "skipped"
)

// Issue statuses.
const (
	IssueSending = "sending"
	IssueDone    = "done"
)

// Consent event kinds.
const (
	ConsentSubscribe   = "subscribe"
	ConsentConfirm     = "confirm"
	ConsentUnsubscribe = "unsubscribe"
	ConsentPreferences = "preferences"
	ConsentImport      = "import"
	ConsentAdd         = "add"
)

var (
	// ErrNotFound is returned (wrapped) when a looked-up row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrSlotTaken is returned by CreateIssue when the (edition, slot) pair
	// already has an issue: some other run (or daemon) made it.
	ErrSlotTaken = errors.New("store: slot already has an issue")
	// ErrIssueExists matches an *IssueConflict from CreateIssue.
	ErrIssueExists = errors.New("store: the edition already has this issue")
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeout is how long a statement waits for another process's write
// lock before failing with SQLITE_BUSY. Our own writers queue on the single
// writer connection instead, so this only matters across processes (two
// daemons, or a CLI command beside a daemon).
const busyTimeout = 10 * time.Second

// DB is an open store. It is safe for concurrent use.
type DB struct {
	w *sql.DB // exactly one connection: every write goes through it
	r *sql.DB // read-only pool

	// mark is prepared once on the writer: delivery marks are the hot
	// write path, and compiling the statement per commit would add to the
	// time a sent message waits to be recorded.
	markOnce sync.Once
	mark     *sql.Stmt
	markErr  error
}

// Backends OpenWith knows.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Options says which store to open. The zero Driver is SQLite.
type Options struct {
	Driver string // DriverSQLite (default) or DriverPostgres
	Path   string // SQLite: the database file
	URL    string // PostgreSQL: a postgres:// URL (from the environment, never the config file)
}

// OpenWith opens the store o names and applies any pending migrations.
func OpenWith(ctx context.Context, o Options) (*DB, error) {
	switch o.Driver {
	case "", DriverSQLite:
		return Open(ctx, o.Path)
	case DriverPostgres:
		return openPostgres(ctx, o.URL)
	}
	return nil, fmt.Errorf("store: open: unknown driver %q (want %q or %q)", o.Driver, DriverSQLite, DriverPostgres)
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
	if err := migrate(ctx, w); err != nil {
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
	return &DB{w: w, r: r}, nil
}

// Close closes both pools. The writer goes last so that its close
// checkpoints the WAL into the main file.
func (db *DB) Close() error {
	if db.mark != nil {
		db.mark.Close()
	}
	errR := db.r.Close()
	errW := db.w.Close()
	if err := errors.Join(errR, errW); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping reports whether the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded files NNNN_name.sql in version order and
// checks the versions run 1, 2, 3... without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate applies the migrations newer than PRAGMA user_version in one
// immediate transaction, so two processes opening a fresh file at once
// cannot both apply them.
func migrate(ctx context.Context, w *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var cur int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("migrate: database schema version %d is newer than this program knows (%d)", cur, len(ms))
	}
	if cur == len(ms) {
		return nil
	}
	for _, m := range ms[cur:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
	}
	// PRAGMA takes no bound parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(ms))); err != nil {
		return fmt.Errorf("migrate: set version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// SchemaVersion returns the applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// write runs fn in one immediate transaction on the writer connection.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// nanos converts t for storage: NULL for the zero time.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func encodeTopics(ts []string) string {
	if len(ts) == 0 {
		return "[]"
	}
	b, err := json.Marshal(ts)
	if err != nil { // a []string always marshals
		return "[]"
	}
	return string(b)
}

func decodeTopics(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var ts []string
	if err := json.Unmarshal([]byte(s), &ts); err != nil {
		return nil, fmt.Errorf("topics %q: %w", s, err)
	}
	return ts, nil
}

func validStatus(s string) bool {
	switch s {
	case StatusPending, StatusConfirmed, StatusUnsubscribed, StatusBounced:
		return true
	}
	return false
}

func validDeliveryStatus(s string) bool {
	switch s {
	case DeliveryPending, DeliverySent, DeliveryFailedTemp, DeliveryFailedPerm, DeliverySkipped:
		return true
	}
	return false
}

// placeholders returns "?,?,...,?" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
