// Package store is digest's persistence: subscribers and their consent
// history, issues and the per-recipient delivery ledger, feed validators, seen
// articles, leases between daemons, the outbox of transactional mail and
// exactly-once markers for inbound mail.
//
// One implementation over database/sql serves two backends (OpenWith):
//
//   - SQLite (modernc.org/sqlite, pure Go), the embedded default. SQLite
//     allows one writer at a time, so a DB holds two pools: a
//     single-connection writer whose transactions start with BEGIN IMMEDIATE
//     (the write lock is taken up front, so two writers never deadlock
//     upgrading a read lock, and other processes wait on busy_timeout), and a
//     pool of read-only connections that WAL lets run beside the writer.
//   - PostgreSQL (github.com/jackc/pgx/v5 through its database/sql driver),
//     for several machines on one store. Write transactions take one
//     transaction-scoped advisory lock first, so every rule SQLite's single
//     writer gives (one open issue per edition, rate budgets, consent
//     transitions) holds unchanged across processes. The hot path is exempt:
//     senders claim ledger rows with FOR UPDATE SKIP LOCKED and mark only
//     rows they hold, so any number of senders work side by side.
//
// The SQL is written once, with ? placeholders (rewritten to $n for
// PostgreSQL by the driver wrapper in postgres.go); where the dialects part
// (planner hints, JSON, error codes, migrations) the dialect type says so.
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
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
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

// DB is an open store. It is safe for concurrent use.
type DB struct {
	w *sql.DB // writes (SQLite: exactly one connection)
	r *sql.DB // reads (SQLite: a read-only pool; PostgreSQL: the same pool as w)
	d *dialect

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

// Driver names the backend: DriverSQLite or DriverPostgres.
func (db *DB) Driver() string { return db.d.name }

// Close closes the pools. The SQLite writer goes last so that its close
// checkpoints the WAL into the main file.
func (db *DB) Close() error {
	if db.mark != nil {
		db.mark.Close()
	}
	var errR error
	if db.r != db.w {
		errR = db.r.Close()
	}
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

// write runs fn in one write transaction that no other write transaction
// of this store (in any process) interleaves with: SQLite's immediate
// transaction, PostgreSQL's advisory lock (see the package doc).
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.tx(ctx, true, fn)
}

// writeRows runs fn in one write transaction that relies on row locks only:
// for the ledger's claims and marks, which touch rows the caller claims
// with FOR UPDATE SKIP LOCKED or already holds. On SQLite it is write.
func (db *DB) writeRows(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.tx(ctx, false, fn)
}

func (db *DB) tx(ctx context.Context, serial bool, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if serial && db.d.serialize != "" {
		if _, err := tx.ExecContext(ctx, db.d.serialize); err != nil {
			tx.Rollback()
			return err
		}
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
