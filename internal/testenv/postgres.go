package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresAdmin is the server the tests use unless $DIGEST_TEST_POSTGRES
// names another: the project's machines run PostgreSQL there with trust
// auth for localhost.
const postgresAdmin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Postgres creates a fresh, empty database on the test server and returns
// its URL; the database is dropped when t ends. Without a reachable server
// it skips (fails in CI), saying how to get one.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("DIGEST_TEST_POSTGRES")
	if admin == "" {
		admin = postgresAdmin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		Missing(t, "PostgreSQL does not answer at %s (%v): install Debian's postgresql with trust auth for 127.0.0.1, or set DIGEST_TEST_POSTGRES", redact(admin), err)
		return ""
	}
	defer conn.Close(context.Background())
	var b [6]byte
	rand.Read(b[:])
	name := "digest_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		// FORCE: a test that failed may have left a connection open.
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
