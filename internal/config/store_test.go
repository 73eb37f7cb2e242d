package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreDefaultsToSQLite(t *testing.T) {
	c, err := Parse("c.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != DriverSQLite || c.Store.Postgres() || c.Store.Path != "digest.db" || c.Store.URLEnv != DefaultURLEnv {
		t.Errorf("store = %+v, want sqlite at digest.db with url_env %s", c.Store, DefaultURLEnv)
	}
}

func TestStorePostgresURLFromEnvironment(t *testing.T) {
	c, err := Parse("c.toml", []byte(minimal+"\n[store]\ndriver = \"postgres\"\nurl_env = \"TEST_DIGEST_DB\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Store.Postgres() || c.Store.URLEnv != "TEST_DIGEST_DB" {
		t.Fatalf("store = %+v", c.Store)
	}
	t.Setenv("TEST_DIGEST_DB", "postgres://digest@db.example.org/digest")
	if got := c.Store.URL(); got != "postgres://digest@db.example.org/digest" {
		t.Errorf("URL() = %q, want the environment's", got)
	}

	d, err := Parse("c.toml", []byte(minimal+"\n[store]\ndriver = \"postgres\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Store.URLEnv != DefaultURLEnv {
		t.Errorf("url_env = %q, want the default %q", d.Store.URLEnv, DefaultURLEnv)
	}
}

func TestStoreErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		key     string
		line    int
		message string
		hidden  string // must not appear in the message
	}{
		{"unknown driver", "\n[store]\ndriver = \"mysql\"\n", "store.driver", 11, `must be "sqlite" or "postgres", got "mysql"`, ""},
		{"URL pasted into url_env", "\n[store]\ndriver = \"postgres\"\nurl_env = \"postgres://digest:hunter2@db/digest\"\n", "store.url_env", 12,
			"not the URL itself", "hunter2"},
		{"url_env not a variable name", "\n[store]\ndriver = \"postgres\"\nurl_env = \"DIGEST DB\"\n", "store.url_env", 12,
			"not an environment variable name", ""},
		{"URL as a key", "\n[store]\ndriver = \"postgres\"\nurl = \"postgres://digest:hunter2@db/digest\"\n", "store.url", 12,
			"unknown key", "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte(minimal+tt.src))
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("err = %v, want one problem", err)
			}
			if e := es[0]; e.Key != tt.key || e.Line != tt.line {
				t.Errorf("problem at %s line %d, want %s line %d (%v)", e.Key, e.Line, tt.key, tt.line, e)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.message) || !strings.Contains(msg, "c.toml") {
				t.Errorf("message %q does not say %q and the file", msg, tt.message)
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("message %q repeats the secret", err)
			}
		})
	}
}

// The store's folder is a file check for SQLite only: a PostgreSQL store
// has no file here.
func TestCheckStoreFolderOnlyForSQLite(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "articles"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		driver string
		want   bool
	}{{DriverSQLite, true}, {DriverPostgres, false}} {
		p := filepath.Join(dir, tt.driver+".toml")
		src := minimal + "\n[store]\ndriver = \"" + tt.driver + "\"\npath = \"missing/digest.db\"\n"
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, problems := Check(p)
		got := false
		for _, e := range problems {
			if e.Key == "store.path" {
				got = true
			} else {
				t.Errorf("%s: unexpected problem %v", tt.driver, e)
			}
		}
		if got != tt.want {
			t.Errorf("%s: store.path reported = %v, want %v (%v)", tt.driver, got, tt.want, problems)
		}
	}
}
