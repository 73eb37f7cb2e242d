package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/digest-newsletter/digest/internal/store"
)

// backend makes the stores the digest children run on, so that every row
// can be measured on SQLite and on PostgreSQL with the same code; the
// difference is the config's [store] section and the child's environment.
type backend interface {
	name() string
	// store makes a store holding n confirmed subscribers and nothing else,
	// for one run in dir.
	store(ctx context.Context, dir string, n int) (*runStore, error)
	close()
}

// runStore is one run's store as the child sees it.
type runStore struct {
	section string   // the config's [store] section
	env     []string // added to the child's environment
	drop    func()
}

// newBackend names a backend: "sqlite" or "postgres".
func (b *bench) newBackend(ctx context.Context, name, pgAdmin string) (backend, error) {
	switch name {
	case "sqlite":
		return &sqliteBackend{b: b}, nil
	case "postgres":
		return newPostgresBackend(ctx, pgAdmin)
	}
	return nil, fmt.Errorf("unknown store %q (sqlite, postgres)", name)
}

// sqliteBackend copies a seeded template file per run.
type sqliteBackend struct{ b *bench }

func (s *sqliteBackend) name() string { return "sqlite" }

func (s *sqliteBackend) store(ctx context.Context, dir string, n int) (*runStore, error) {
	db := filepath.Join(dir, "bench.db")
	if err := s.b.storeCopy(ctx, n, db); err != nil {
		return nil, err
	}
	return &runStore{section: sqliteSection(db), drop: func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(db + suffix)
		}
	}}, nil
}

func (s *sqliteBackend) close() {}

func sqliteSection(db string) string { return fmt.Sprintf("[store]\npath = %q\n", db) }

// urlEnv is the variable the children read the PostgreSQL URL from (the
// config names it with url_env: URLs carry passwords, config files don't).
const urlEnv = "DIGEST_BENCH_DATABASE_URL"

// postgresBackend makes a fresh database per run on the server at admin:
// seeded once per size as a template, then copied with CREATE DATABASE …
// TEMPLATE, which copies files instead of replaying inserts. Every database
// it made is dropped at close.
type postgresBackend struct {
	admin     *url.URL
	conn      *pgx.Conn
	templates map[int]string // subscribers -> template database
	made      []string       // every database, for close
}

func newPostgresBackend(ctx context.Context, admin string) (*postgresBackend, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("postgres admin URL: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, admin)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL does not answer at %s: %w", u.Redacted(), err)
	}
	return &postgresBackend{admin: u, conn: conn, templates: map[int]string{}}, nil
}

func (p *postgresBackend) name() string { return "postgres" }

// dbURL is the URL of database name on the admin server.
func (p *postgresBackend) dbURL(name string) string {
	u := *p.admin
	u.Path = "/" + name
	return u.String()
}

func (p *postgresBackend) create(ctx context.Context, template string) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "digest_bench_" + hex.EncodeToString(b[:])
	q := "CREATE DATABASE " + name
	if template != "" {
		q += " TEMPLATE " + template
	}
	if _, err := p.conn.Exec(ctx, q); err != nil {
		return "", fmt.Errorf("%s: %w", q, err)
	}
	p.made = append(p.made, name)
	return name, nil
}

func (p *postgresBackend) dropDB(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		fmt.Fprintf(os.Stderr, "  (drop database %s: %v)\n", name, err)
	}
}

func (p *postgresBackend) store(ctx context.Context, _ string, n int) (*runStore, error) {
	tmpl, ok := p.templates[n]
	if !ok {
		var err error
		if tmpl, err = p.create(ctx, ""); err != nil {
			return nil, err
		}
		p.templates[n] = tmpl
		if err := seedPostgres(ctx, p.dbURL(tmpl), n); err != nil {
			return nil, err
		}
	}
	name, err := p.create(ctx, tmpl)
	if err != nil {
		return nil, err
	}
	return &runStore{
		section: fmt.Sprintf("[store]\ndriver = \"postgres\"\nurl_env = %q\n", urlEnv),
		env:     []string{urlEnv + "=" + p.dbURL(name)},
		drop:    func() { p.dropDB(name) },
	}, nil
}

func (p *postgresBackend) close() {
	for _, name := range p.made {
		p.dropDB(name)
	}
	_ = p.conn.Close(context.Background())
}

// seedPostgres fills the database at dbURL with n confirmed subscribers.
// The schema is the store's (its migrations run at open), so the first
// subscriber goes in through the store's own Import; the rest are copies
// of that row made by the server in one INSERT … SELECT over
// generate_series, with their own address, name and id: 1M round trips
// would measure the network, not the store.
func seedPostgres(ctx context.Context, dbURL string, n int) error {
	start := time.Now()
	st, err := store.OpenWith(ctx, store.Options{Driver: store.DriverPostgres, URL: dbURL})
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	err = importOne(ctx, st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if n > 1 {
		if err := copyFirstSubscriber(ctx, conn, n); err != nil {
			return fmt.Errorf("seeding %d subscribers: %w", n, err)
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  (seeded %d subscribers into PostgreSQL in %.1fs)\n", n, time.Since(start).Seconds())
	return nil
}

// copyFirstSubscriber makes subscribers 2…n (and their consent events)
// from subscriber 1, column by column as the schema lists them.
func copyFirstSubscriber(ctx context.Context, conn *pgx.Conn, n int) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var first int64
	if err := tx.QueryRow(ctx, "SELECT id FROM subscribers").Scan(&first); err != nil {
		return fmt.Errorf("the imported subscriber: %w", err)
	}
	cols, err := columns(ctx, tx, "subscribers")
	if err != nil {
		return err
	}
	var sel []string
	for _, c := range cols {
		switch c {
		case "id":
			sel = append(sel, "t.id - 1 + g")
		case "email":
			sel = append(sel, "format('reader%s@example.net', lpad(g::text, 7, '0'))")
		case "name":
			sel = append(sel, "'Reader ' || g")
		default:
			sel = append(sel, "t."+c)
		}
	}
	q := fmt.Sprintf("INSERT INTO subscribers (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM subscribers t, generate_series(2, %d) g WHERE t.id = %d",
		strings.Join(cols, ", "), strings.Join(sel, ", "), n, first)
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("subscribers: %w", err)
	}
	if cols, err = columns(ctx, tx, "consent_events"); err != nil {
		return err
	}
	sel = sel[:0]
	var ins []string
	for _, c := range cols {
		switch c {
		case "id":
			continue // its default numbers them
		case "subscriber_id":
			sel = append(sel, "s.id")
		default:
			sel = append(sel, "c."+c)
		}
		ins = append(ins, c)
	}
	q = fmt.Sprintf("INSERT INTO consent_events (%s) SELECT %s FROM consent_events c, subscribers s WHERE c.subscriber_id = %d AND s.id <> %d",
		strings.Join(ins, ", "), strings.Join(sel, ", "), first, first)
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("consent events: %w", err)
	}
	if err := bumpIDs(ctx, tx, first-1+int64(n)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// bumpIDs moves the subscribers' identity sequence past the copies (the
// PostgreSQL schema has no high-water table; SQLite is seeded otherwise).
func bumpIDs(ctx context.Context, tx pgx.Tx, last int64) error {
	_, err := tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence('subscribers', 'id'), $1)", last)
	return err
}

func columns(ctx context.Context, tx pgx.Tx, table string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
		ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no table %s in the store's schema", table)
	}
	return cols, nil
}
