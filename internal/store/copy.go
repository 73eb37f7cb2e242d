package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrTargetNotEmpty is returned (wrapped) by ImportFrom when the store it
// would copy into already has rows: merging two stores' ids is not a copy.
var ErrTargetNotEmpty = errors.New("store: the target store is not empty")

// CopyReport counts the rows ImportFrom copied, table by table in the
// order it copied them.
type CopyReport struct {
	Tables []TableRows
}

// TableRows is one table's count in a CopyReport.
type TableRows struct {
	Table string
	Rows  int64
}

// Total is the number of rows copied.
func (r CopyReport) Total() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// copyTable is one table ImportFrom copies: key orders its rows, and id
// says the key is an integer id that the target's id generator must be
// moved past.
type copyTable struct {
	name string
	key  []string
	id   bool
}

// copyTables lists parents before children, so that every foreign key
// finds its row at once (SQLite checks them statement by statement).
// Ascending ids also keep SQLite's subscribers_id_never_reused trigger
// satisfied. Not copied: leases (they name processes running on the
// source, none of which runs on the target) and the id generators
// (id_high_water, sqlite_sequence), which afterImport moves instead.
var copyTables = []copyTable{
	{name: "subscribers", key: []string{"id"}, id: true},
	{name: "issues", key: []string{"id"}, id: true},
	{name: "consent_events", key: []string{"id"}, id: true},
	{name: "deliveries", key: []string{"id"}, id: true},
	{name: "seen_articles", key: []string{"edition", "article_id"}},
	{name: "feed_state", key: []string{"edition", "url"}},
	{name: "schedule_slots", key: []string{"edition"}},
	{name: "inbound_processed", key: []string{"key"}},
	{name: "outbox", key: []string{"id"}, id: true},
	{name: "rate_budgets", key: []string{"name"}},
}

// copyParams bounds the bound parameters of one batched INSERT: far below
// both SQLite's (32766) and PostgreSQL's (65535) limits, and large enough
// that a batch is hundreds of rows.
const copyParams = 4000

// ImportFrom copies every row of the SQLite store src into db, which must
// be empty, in one transaction of db: either all of src arrives or
// nothing does. src is read in one read transaction, so the copy is a
// consistent snapshot even if a process writes to src meanwhile (its
// later writes are not copied). Rows keep their ids, so links already sent
// (signed with a subscriber's id and stamp) keep working, and consent
// history, ledger claims and the outbox come over as they were.
//
// Columns are read from src and must all exist in db (db may have more;
// they take their defaults).
func (db *DB) ImportFrom(ctx context.Context, src *DB) (CopyReport, error) {
	if src.d.name != DriverSQLite {
		return CopyReport{}, fmt.Errorf("store: import: the source must be an SQLite store, not %s", src.d.name)
	}
	rtx, err := src.r.BeginTx(ctx, nil)
	if err != nil {
		return CopyReport{}, fmt.Errorf("store: import: read source: %w", err)
	}
	defer rtx.Rollback()
	var rep CopyReport
	err = db.write(ctx, func(tx *sql.Tx) error {
		rep = CopyReport{}
		if err := checkEmpty(ctx, tx); err != nil {
			return err
		}
		marks, err := sourceMarks(ctx, rtx)
		if err != nil {
			return fmt.Errorf("read source id marks: %w", err)
		}
		for _, t := range copyTables {
			n, err := copyRows(ctx, rtx, tx, t, db.d.overrideIdentity)
			if err != nil {
				return fmt.Errorf("table %s: %w", t.name, err)
			}
			rep.Tables = append(rep.Tables, TableRows{Table: t.name, Rows: n})
			if !t.id {
				continue
			}
			var top int64
			if err := rtx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM "+t.name).Scan(&top); err != nil {
				return fmt.Errorf("table %s: %w", t.name, err)
			}
			marks[t.name] = max(marks[t.name], top)
		}
		return db.d.afterImport(ctx, tx, marks)
	})
	if errors.Is(err, ErrTargetNotEmpty) {
		return CopyReport{}, err // says "store:" already
	}
	if err != nil {
		return CopyReport{}, fmt.Errorf("store: import: %w", err)
	}
	if db.d.afterBulkLoad != "" {
		if _, err := db.w.ExecContext(ctx, db.d.afterBulkLoad); err != nil {
			return rep, fmt.Errorf("store: import: analyze: %w", err)
		}
	}
	return rep, nil
}

// checkEmpty refuses a target with rows in any table ImportFrom copies,
// naming them. It runs inside the import's transaction, so nothing can
// be added between the check and the copy.
func checkEmpty(ctx context.Context, tx *sql.Tx) error {
	var full []string
	for _, t := range copyTables {
		var some bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+t.name+")").Scan(&some); err != nil {
			return fmt.Errorf("check target table %s: %w", t.name, err)
		}
		if some {
			full = append(full, t.name)
		}
	}
	switch len(full) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%w: table %s has rows (the copy goes into an empty store only)", ErrTargetNotEmpty, full[0])
	}
	return fmt.Errorf("%w: tables %s have rows (the copy goes into an empty store only)", ErrTargetNotEmpty, strings.Join(full, ", "))
}

// sourceMarks reads the highest id the SQLite source ever handed out per
// table, where it remembers more than max(id): id_high_water (subscriber
// ids are never reused) and sqlite_sequence (AUTOINCREMENT tables).
func sourceMarks(ctx context.Context, rtx *sql.Tx) (map[string]int64, error) {
	marks := map[string]int64{}
	for _, q := range []string{"SELECT name, last FROM id_high_water", "SELECT name, seq FROM sqlite_sequence"} {
		rows, err := rtx.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var name string
			var n int64
			if err := rows.Scan(&name, &n); err != nil {
				rows.Close()
				return nil, err
			}
			marks[name] = max(marks[name], n)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
	}
	return marks, nil
}

// copyRows copies table t from rtx to tx in batched INSERTs and returns
// the number of rows.
func copyRows(ctx context.Context, rtx, tx *sql.Tx, t copyTable, override string) (int64, error) {
	cols, err := columnsOf(ctx, rtx, t.name)
	if err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	tcols, err := columnsOf(ctx, tx, t.name)
	if err != nil {
		return 0, fmt.Errorf("target: %w", err)
	}
	for _, c := range cols {
		if !slices.Contains(tcols, c) {
			return 0, fmt.Errorf("column %s is not in the target store (is it older than the source?)", c)
		}
	}
	list := quoteIdents(cols)
	rows, err := rtx.QueryContext(ctx, "SELECT "+list+" FROM "+t.name+" ORDER BY "+quoteIdents(t.key))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	head := "INSERT INTO " + t.name + " (" + list + ") "
	if t.id {
		head += override
	}
	ins := &batchInsert{tx: tx, head: head + "VALUES ", cols: len(cols), per: max(1, copyParams/len(cols))}
	defer ins.close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		// Values go as SQLite gives them: both schemas store times and
		// flags as integers, and pgx writes text into bytea as its bytes.
		ins.args = append(ins.args, vals...)
		n++
		if err := ins.flushIfFull(ctx); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, ins.flush(ctx)
}

// batchInsert writes rows per INSERT, the full-size statement prepared
// once per table.
type batchInsert struct {
	tx        *sql.Tx
	head      string
	cols, per int
	args      []any
	full      *sql.Stmt
}

func (b *batchInsert) sql(rows int) string {
	one := "(" + placeholders(b.cols) + ")"
	return b.head + strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

func (b *batchInsert) flushIfFull(ctx context.Context) error {
	if len(b.args) < b.per*b.cols {
		return nil
	}
	if b.full == nil {
		st, err := b.tx.PrepareContext(ctx, b.sql(b.per))
		if err != nil {
			return err
		}
		b.full = st
	}
	if _, err := b.full.ExecContext(ctx, b.args...); err != nil {
		return err
	}
	b.args = b.args[:0]
	return nil
}

// flush writes the last, partial batch.
func (b *batchInsert) flush(ctx context.Context) error {
	if len(b.args) == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(ctx, b.sql(len(b.args)/b.cols), b.args...)
	b.args = b.args[:0]
	return err
}

func (b *batchInsert) close() {
	if b.full != nil {
		b.full.Close()
	}
}

// columnsOf returns a table's column names without reading a row.
func columnsOf(ctx context.Context, q *sql.Tx, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT * FROM "+table+" WHERE 1 = 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	return names, rows.Err()
}

// The dialects' afterImport moves the target's id generators past the
// highest id the source ever handed out per table (marks), so that a new
// row never gets the id of a copied or once-deleted one (links in sent mail
// name ids).

// sqliteAfterImport: subscriber ids come from id_high_water and the outbox
// is AUTOINCREMENT (sqlite_sequence); inserting explicit ids already raised
// both to max(id), so only a higher mark from the source (its newest rows
// deleted) changes anything.
func sqliteAfterImport(ctx context.Context, tx *sql.Tx, marks map[string]int64) error {
	for name, n := range marks {
		if _, err := tx.ExecContext(ctx, "UPDATE id_high_water SET last = ? WHERE name = ? AND last < ?", n, name, n); err != nil {
			return fmt.Errorf("move id_high_water %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE sqlite_sequence SET seq = ? WHERE name = ? AND seq < ?", n, name, n); err != nil {
			return fmt.Errorf("move sqlite_sequence %s: %w", name, err)
		}
		// An AUTOINCREMENT table whose rows were all deleted in the source
		// has no sequence row here yet.
		if _, err := tx.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq)
			SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)
			AND EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? AND sql LIKE '%AUTOINCREMENT%')`,
			name, n, name, name); err != nil {
			return fmt.Errorf("move sqlite_sequence %s: %w", name, err)
		}
	}
	return nil
}

// postgresAfterImport: ids are identities, and inserting explicit ids does
// not move their sequences. Each goes to its table's mark, or stays where
// it is if that is further (the target once had rows of its own).
func postgresAfterImport(ctx context.Context, tx *sql.Tx, marks map[string]int64) error {
	for _, t := range copyTables {
		n := marks[t.name]
		if !t.id || n <= 0 { // a sequence cannot be set below 1; 0 means never used
			continue
		}
		if _, err := tx.ExecContext(ctx, `SELECT setval(s, GREATEST(CAST(? AS bigint), coalesce(pg_sequence_last_value(s), 0)))
			FROM (SELECT CAST(pg_get_serial_sequence(?, 'id') AS regclass) AS s) AS seq`, n, t.name); err != nil {
			return fmt.Errorf("move the id sequence of %s: %w", t.name, err)
		}
	}
	return nil
}

// quoteIdents quotes and joins column names: "key" and "text" are column
// names here, and keywords in one dialect or the other.
func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
	}
	return strings.Join(q, ", ")
}
