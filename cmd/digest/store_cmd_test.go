package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to read a PostgreSQL target raw

	"github.com/digest-newsletter/digest/daemon"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/internal/testenv"
	"github.com/digest-newsletter/digest/links"
)

// importTables are the tables import-sqlite copies, with the order to
// compare their rows in.
var importTables = []struct{ name, order string }{
	{"subscribers", "id"},
	{"consent_events", "id"},
	{"issues", "id"},
	{"deliveries", "id"},
	{"seen_articles", "edition, article_id"},
	{"feed_state", "edition, url"},
	{"schedule_slots", "edition"},
	{"inbound_processed", `"key"`},
	{"outbox", "id"},
	{"rate_budgets", "name"},
}

// importTarget is a store to copy into: the [store] keys of its config,
// and its database for reading tables raw.
type importTarget struct {
	keys   string
	driver string
	dsn    string
}

func sqliteTarget(t *testing.T) importTarget {
	p := filepath.Join(t.TempDir(), "target.db")
	return importTarget{keys: fmt.Sprintf("driver = \"sqlite\"\npath = %q\n", p), driver: "sqlite", dsn: p}
}

func postgresTarget(t *testing.T) importTarget {
	u := testenv.Postgres(t)
	t.Setenv("TEST_DIGEST_DATABASE_URL", u)
	return importTarget{keys: "driver = \"postgres\"\nurl_env = \"TEST_DIGEST_DATABASE_URL\"\n", driver: "pgx", dsn: u}
}

// targetConfig writes a copy of the env's config whose [store] is tg's.
func (e *runEnv) targetConfig(src string, tg importTarget) string {
	e.t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		e.t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^path = "` + regexp.QuoteMeta(e.db) + `"\n`)
	out := re.ReplaceAllLiteralString(string(b), tg.keys)
	if out == string(b) {
		e.t.Fatal("no [store] path in the config to replace")
	}
	p := filepath.Join(e.dir, "target.toml")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestImportSQLite(t *testing.T) {
	for _, tt := range []struct {
		name   string
		target func(*testing.T) importTarget
	}{{"sqlite", sqliteTarget}, {"postgres", postgresTarget}} {
		t.Run(tt.name, func(t *testing.T) { testImportSQLite(t, tt.target(t)) })
	}
}

// fillSource makes a store with rows in every table, through a real send
// and the store's own methods, and returns the subscriber who
// unsubscribed (two consent events) and the id of one removed after.
func fillSource(t *testing.T, e *runEnv, cfg string) (unsubscribed store.Subscriber, removed int64) {
	ctx := context.Background()
	e.subscribe(cfg, "ana@example.org", "bo@example.org", "cy@example.org")
	e.articleAt("Harbour reopens after the storm", time.Now().Add(-time.Hour))
	e.cli(cfg, "send")
	runWaitMessages(t, e.srv, 3)

	st, err := store.Open(ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	bo, err := st.SubscriberByEmail(ctx, "bo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	ev := store.ConsentEvent{SubscriberID: bo.ID, Kind: store.ConsentUnsubscribe, At: now, IP: "192.0.2.7", UserAgent: "test", Form: "one-click"}
	if err := st.SetStatusWithConsent(ctx, bo.ID, store.StatusUnsubscribed, ev); err != nil {
		t.Fatal(err)
	}
	// The newest subscriber goes: the target must not give their id again.
	e.subscribe(cfg, "gone@example.org")
	gone, err := st.SubscriberByEmail(ctx, "gone@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSubscriber(ctx, gone.Email); err != nil {
		t.Fatal(err)
	}
	// An unfinished issue with claimed ledger rows.
	is, err := st.CreateIssue(ctx, store.Issue{Edition: "daily", Slot: now.Truncate(time.Hour), Created: now, Payload: []byte("frozen\x00issue")}, "daily")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimDeliveries(ctx, is.ID, "host:1:abc", 1, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.SetLastSlot(ctx, "daily", now.Truncate(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.FeedStates("daily").SetFeedState(ctx, "https://example.org/feed.xml", `"etag-1"`, "Mon, 30 Nov 2026 07:00:00 GMT"); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkInboundProcessed(ctx, "<m1@example.org>", now); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := st.Enqueue(ctx, store.OutboxMail{Kind: "confirm", SubscriberID: bo.ID, Message: []byte(fmt.Sprint("mail ", i)), Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	b := &store.Budget{Name: "confirmations", Kind: "confirm", Every: time.Minute, Burst: 1}
	if _, err := st.ClaimOutbox(ctx, store.Claim{Holder: "w", Now: now, Until: now.Add(time.Minute), Limit: 10, Budget: b}); err != nil {
		t.Fatal(err)
	}
	bo, err = st.SubscriberByID(ctx, bo.ID)
	if err != nil {
		t.Fatal(err)
	}
	return bo, gone.ID
}

func testImportSQLite(t *testing.T, tg importTarget) {
	ctx := context.Background()
	e := newRunEnv(t)
	cfgSrc := e.config("@daily", 2, "")
	bo, removed := fillSource(t, e, cfgSrc)
	cfgDst := e.targetConfig(cfgSrc, tg)

	out := e.cli(cfgDst, "store", "import-sqlite", e.db)
	if !regexp.MustCompile(`(?m)^\s+subscribers\s+3$`).MatchString(out) || !strings.Contains(out, "outbox") {
		t.Errorf("import-sqlite printed\n%s\nwant a count per table, 3 subscribers", out)
	}
	src := openRaw(t, "sqlite", e.db)
	dst := openRaw(t, tg.driver, tg.dsn)
	for _, tb := range importTables {
		want, got := dumpTable(t, src, tb.name, tb.order), dumpTable(t, dst, tb.name, tb.order)
		if len(want) == 0 {
			t.Errorf("%s: the source has no rows: the test covers nothing there", tb.name)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d rows copied, want %d", tb.name, len(got), len(want))
			continue
		}
		for i := range want {
			for col, v := range want[i] {
				if !reflect.DeepEqual(got[i][col], v) {
					t.Errorf("%s row %d: %s = %#v, want %#v", tb.name, i, col, got[i][col], v)
				}
			}
		}
	}

	cfg, err := config.Load(cfgDst)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ConsentEvents(ctx, bo.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != store.ConsentAdd || evs[1].Kind != store.ConsentUnsubscribe || evs[1].IP != "192.0.2.7" {
		t.Errorf("consent history after import = %+v, want add then unsubscribe from 192.0.2.7", evs)
	}
	// A link mailed before the move still works after it.
	signer, err := links.NewSigner(cfg.Server.Secret(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := signer.Sign(links.Claims{Purpose: links.PurposePreferences, Subscriber: bo.ID, Issued: time.Now()}, links.Subject{ID: bo.ID, Stamp: bo.Stamp})
	if c, err := signer.Verify(ctx, tok, links.PurposePreferences, time.Hour, st.SubscriberStamp); err != nil || c.Subscriber != bo.ID {
		t.Errorf("a token signed before the import: %+v, %v", c, err)
	}

	// A new reader on the target never gets the removed subscriber's id.
	e.subscribe(cfgDst, "new@example.org")
	n, err := st.SubscriberByEmail(ctx, "new@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if n.ID <= removed {
		t.Errorf("new subscriber got id %d, at or below the removed one's %d", n.ID, removed)
	}

	// Now the target has rows: a second import is refused, naming them.
	code, _, stderr := runCLI(t, "--config", cfgDst, "store", "import-sqlite", e.db)
	if code != 1 || !strings.Contains(stderr, "not empty") || !strings.Contains(stderr, "subscribers") {
		t.Errorf("import into a non-empty store: exit %d, %s", code, stderr)
	}
	if got := len(dumpTable(t, dst, "subscribers", "id")); got != 4 {
		t.Errorf("after the refused import the target has %d subscribers, want 4", got)
	}
}

// A source whose daemon is running is refused before anything is copied;
// so is a FILE that does not exist (opening it would create it).
func TestImportSQLiteRefusesABusyOrMissingSource(t *testing.T) {
	ctx := context.Background()
	e := newRunEnv(t)
	cfgSrc := e.config("@daily", 2, "")
	e.subscribe(cfgSrc, "ana@example.org")
	tg := sqliteTarget(t)
	cfgDst := e.targetConfig(cfgSrc, tg)

	st := e.store()
	if ok, err := st.AcquireLease(ctx, daemon.LeaseName, "web1:42:xyz", time.Hour, time.Now()); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	code, _, stderr := runCLI(t, "--config", cfgDst, "store", "import-sqlite", e.db)
	if code != 1 || !strings.Contains(stderr, "web1:42:xyz") || !strings.Contains(stderr, "in use") {
		t.Errorf("busy source: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(tg.dsn); !os.IsNotExist(err) {
		t.Errorf("busy source: the target was opened (%v)", err)
	}

	missing := filepath.Join(e.dir, "missing.db")
	code, _, stderr = runCLI(t, "--config", cfgDst, "store", "import-sqlite", missing)
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing source: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the missing source was created: %v", err)
	}
}

func openRaw(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dumpTable reads a table's rows as column → value, values normalised to
// what SQLite stores (times as unix nanoseconds, flags as 0/1, bytes as
// text), so that rows from either backend compare.
func dumpTable(t *testing.T, db *sql.DB, table, order string) []map[string]any {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY " + order)
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for i, c := range cols {
			m[c] = normalise(vals[i])
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func normalise(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UnixNano()
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case int32:
		return int64(x)
	case []byte:
		return string(x)
	}
	return v
}

func TestStoreOptionsFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Path: filepath.Join(dir, "c.toml"), Store: config.Store{Driver: config.DriverSQLite, Path: "data/digest.db"}}
	o, err := storeOptions(cfg)
	if want := (store.Options{Driver: store.DriverSQLite, Path: filepath.Join(dir, "data/digest.db")}); err != nil || o != want {
		t.Errorf("sqlite: %+v, %v; want %+v", o, err, want)
	}

	cfg.Store = config.Store{Driver: config.DriverPostgres, URLEnv: "TEST_DIGEST_PG_URL"}
	t.Setenv("TEST_DIGEST_PG_URL", "postgres://digest@db.example.org/digest")
	o, err = storeOptions(cfg)
	if want := (store.Options{Driver: store.DriverPostgres, URL: "postgres://digest@db.example.org/digest"}); err != nil || o != want {
		t.Errorf("postgres: %+v, %v; want %+v", o, err, want)
	}

	t.Setenv("TEST_DIGEST_PG_URL", "")
	for name, open := range map[string]func(context.Context, *config.Config) (*store.DB, error){
		"openStore": openStore, "openStoreIfExists": openStoreIfExists,
	} {
		st, err := open(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "store.url_env: TEST_DIGEST_PG_URL is not set") {
			t.Errorf("%s without the URL: %v, %v; want an error naming store.url_env and the variable", name, st, err)
		}
	}
}

func TestConfigCheckStoreURL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	os.Mkdir(filepath.Join(dir, "notes"), 0o755)
	os.WriteFile(path, []byte(`[newsletter]
from = "Brief <brief@example.org>"
base_url = "https://news.example.org"
[[sources]]
name = "notes"
path = "notes"
[store]
driver = "postgres"
url_env = "TEST_DIGEST_PG_URL"
`), 0o644)
	t.Setenv("DIGEST_SECRET", strings.Repeat("k", 32))

	t.Setenv("TEST_DIGEST_PG_URL", "")
	code, stdout, stderr := runCLI(t, "config", "check", "--config", path)
	if code != 0 || !strings.Contains(stderr, "warning: config: "+path+":9: store.url_env: TEST_DIGEST_PG_URL is not set") {
		t.Errorf("URL not set: exit %d, want 0 and a warning at line 9\n%s%s", code, stdout, stderr)
	}

	t.Setenv("TEST_DIGEST_PG_URL", "postgres://digest:hunter2@db.example.org:notaport/digest")
	code, _, stderr = runCLI(t, "config", "check", "--config", path)
	if code != 1 || !strings.Contains(stderr, "store.url_env: TEST_DIGEST_PG_URL is not a PostgreSQL URL") || strings.Contains(stderr, "hunter2") {
		t.Errorf("bad URL: exit %d, want 1, naming the variable without the password\n%s", code, stderr)
	}

	t.Setenv("TEST_DIGEST_PG_URL", "postgres://digest:hunter2@db.example.org:5432/digest")
	if code, stdout, stderr := runCLI(t, "config", "check", "--config", path); code != 0 || stderr != "" {
		t.Errorf("good URL: exit %d\n%s%s", code, stdout, stderr)
	}
}

// The README's path to more than one machine: import the SQLite store into
// PostgreSQL, start two `digest run` on it; both answer /healthz naming the
// same scheduler, and exactly one of them is it.
func TestTwoRunsOnOnePostgresStore(t *testing.T) {
	e := newRunEnv(t)
	cfgSrc := e.config("@daily", 2, "")
	e.subscribe(cfgSrc, "ana@example.org")
	cfgPG := e.targetConfig(cfgSrc, postgresTarget(t))
	e.cli(cfgPG, "store", "import-sqlite", e.db)

	ctx := context.Background()
	d1, d2 := e.start(ctx, cfgPG), e.start(ctx, cfgPG)
	type health struct {
		Instance  string `json:"instance"`
		Scheduler *struct {
			Instance string `json:"instance"`
		} `json:"scheduler"`
		IsScheduler bool `json:"is_scheduler"`
	}
	var h1, h2 health
	runEventually(t, "a scheduler named by both", func() bool {
		h1, h2 = health{}, health{}
		runGetJSON(t, d1.url()+"/healthz", &h1)
		runGetJSON(t, d2.url()+"/healthz", &h2)
		return h1.Scheduler != nil && h2.Scheduler != nil && (h1.IsScheduler || h2.IsScheduler)
	}, d1.logs)
	if h1.Instance == h2.Instance || h1.Scheduler.Instance != h2.Scheduler.Instance || h1.IsScheduler == h2.IsScheduler {
		t.Errorf("two instances disagree: %+v %+v / %+v %+v", h1, *h1.Scheduler, h2, *h2.Scheduler)
	}
	for _, d := range []*daemonProc{d1, d2} {
		if form := runGet(t, d.url()+"/"); !strings.Contains(form, "<form") {
			t.Error("GET / is not the subscribe form")
		}
		if code := d.stop(); code != 0 {
			t.Errorf("digest run exit %d\n%s", code, d.logs.String())
		}
	}
}
