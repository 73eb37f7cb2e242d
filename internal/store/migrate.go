package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Each backend has its own folder of migrations, NNNN_name.sql, applied in
// order and each once. The folders need not have the same versions: the
// schema they end at is what the contract tests check.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded files of dir in version order and checks
// the versions run 1, 2, 3... without gaps.
func migrations(dir string) ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/"+dir+"/*.sql")
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

// migrate applies the migrations newer than the schema's version in one
// transaction that no other process migrating the same store interleaves
// with (SQLite's immediate transaction, PostgreSQL's advisory lock), so two
// processes opening a fresh store at once cannot both apply them.
func migrate(ctx context.Context, w *sql.DB, d *dialect) error {
	ms, err := migrations(d.name)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if d.serialize != "" {
		if _, err := tx.ExecContext(ctx, d.serialize); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	cur, err := d.version(ctx, tx)
	if err != nil {
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
	if err := d.setVersion(ctx, tx, len(ms)); err != nil {
		return fmt.Errorf("migrate: set version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// SchemaVersion returns the applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	defer tx.Rollback()
	v, err := db.d.version(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}
