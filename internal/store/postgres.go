package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// writeLock is the advisory lock every serialised write transaction takes
// (see the package doc): one number for all of digest's stores, since an
// advisory lock is per database anyway.
const writeLock = 0x64696765 // "dige"

var postgresDialect = &dialect{
	name: DriverPostgres,
	// An identity never hands out a number twice.
	nextSubscriberID: "DEFAULT",
	// SKIP LOCKED: concurrent claimers take disjoint batches without
	// waiting on each other; the partial index deliveries_open serves the
	// id order.
	claimOpen: "ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
	// subscribers.id is GENERATED ALWAYS: nobody else gives an id.
	overrideIdentity: "OVERRIDING SYSTEM VALUE ",
	afterImport:      postgresAfterImport,
	// Until autovacuum gets to the new rows, the planner has no
	// statistics and pages through subscribers by sorting them all (every
	// page of a send's walk); a minute of that on a big list is what the
	// first send after an import would pay.
	afterBulkLoad: "ANALYZE",
	serialize:     "SELECT pg_advisory_xact_lock(" + strconv.Itoa(writeLock) + ")",
	markDeliveries: markSet + `(SELECT (v->>0)::bigint AS id, v->>1 AS status, v->>2 AS error,
			(v->>3)::integer AS attempts, (v->>4)::bigint AS at
		FROM json_array_elements(CAST(? AS json)) AS v) AS m
	WHERE deliveries.id = m.id AND deliveries.status != 'sent'`,
	version: func(ctx context.Context, tx *sql.Tx) (int, error) {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&exists); err != nil || !exists {
			return 0, err
		}
		var v int
		err := tx.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v)
		return v, err
	},
	setVersion: func(ctx context.Context, tx *sql.Tx, v int) error {
		_, err := tx.ExecContext(ctx, "UPDATE schema_version SET version = ?", v)
		return err
	},
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// openPostgres opens the PostgreSQL store at rawURL (postgres://...) and
// applies any pending migrations. Reads and writes share one pool.
func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	name := redactURL(rawURL)
	if rawURL == "" {
		return nil, errors.New("store: open postgres: empty URL")
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return nil, fmt.Errorf("store: open postgres %s: the URL does not parse", name)
	}
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open postgres %s: %w", name, err)
	}
	if err := migrate(ctx, db, postgresDialect); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open postgres %s: %w", name, err)
	}
	return &DB{w: db, r: db, d: postgresDialect}, nil
}

// redactURL is rawURL without its password, for messages and logs.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// rebind rewrites the ? placeholders of our SQL to PostgreSQL's $1, $2...
// A ? inside a quoted string, identifier or -- comment is left alone; our SQL has no
// other use of ? (the jsonb ? operators are not used).
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			b.WriteString(q[i : i+end])
			i += end - 1
			continue
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// rebindConnector hands out pgx connections whose every statement goes
// through rebind: no query of the store can reach PostgreSQL with SQLite's
// placeholders.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return rebindConn{conn.(*stdlib.Conn)}, nil
}

// rebindConn is a *stdlib.Conn with its query text rewritten; the other
// methods are the embedded ones, so database/sql sees every interface the
// pgx connection has (pings, session resets, value checks).
type rebindConn struct{ *stdlib.Conn }

func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}
