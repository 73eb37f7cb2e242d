package store

import (
	"context"
	"database/sql"
)

// dialect is where SQLite and PostgreSQL part. Everything else is one SQL
// text with ? placeholders.
type dialect struct {
	name string // DriverSQLite or DriverPostgres; also the migrations folder

	// serialize is run first in every write transaction that must not
	// interleave with another ("" when the database already serialises
	// writers, as SQLite does).
	serialize string

	// hints: SQLite's planner hints (INDEXED BY, a unary + that keeps an
	// index out) are ours to give; PostgreSQL plans by statistics and
	// knows no such syntax.
	hints bool

	// nextSubscriberID is the id a new subscriber gets: one past the
	// highest ever given, never one a removed subscriber had.
	nextSubscriberID string

	// claimOpen ends the subquery that picks the open rows to claim.
	claimOpen string

	// markDeliveries applies a JSON array of [id, status, error,
	// attempts, at] marks (see MarkDeliveries) in one statement.
	markDeliveries string

	// overrideIdentity goes between the column list and VALUES of an
	// INSERT that gives ids itself (ImportFrom).
	overrideIdentity string
	// afterImport moves the id generators past the highest id the source
	// of ImportFrom ever handed out per table (marks), inside its
	// transaction; afterBulkLoad runs once it has committed.
	afterImport   func(ctx context.Context, tx *sql.Tx, marks map[string]int64) error
	afterBulkLoad string

	version    func(ctx context.Context, tx *sql.Tx) (int, error)
	setVersion func(ctx context.Context, tx *sql.Tx, v int) error
}

// indexedBy returns the SQLite hint that makes a query use index idx, or
// nothing.
func (d *dialect) indexedBy(idx string) string {
	if !d.hints {
		return ""
	}
	return " INDEXED BY " + idx
}

// noIndex returns col as an expression no index matches, which keeps the
// column's index out of a plan: SQLite's unary plus. PostgreSQL plans by
// statistics and walks the primary key by itself once ANALYZE has seen the
// table (autovacuum, or ImportFrom); an expression there would hide the
// column's statistics, and the planner, expecting a handful of matches,
// runs every page as a parallel scan (30x slower per page).
func (d *dialect) noIndex(col string) string {
	if d.hints {
		return "+" + col
	}
	return col
}

// markSet is the part of the marking statement both dialects share: m is
// the decoded marks.
const markSet = `UPDATE deliveries
	SET status = m.status, error = m.error, attempts = m.attempts, updated = m.at,
		claimed_by = CASE WHEN m.status IN ('pending', 'failed_temp') THEN deliveries.claimed_by END,
		claimed_until = CASE WHEN m.status IN ('pending', 'failed_temp') THEN deliveries.claimed_until END,
		tried = 1
	FROM `
