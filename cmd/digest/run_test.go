package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
)

// runEnv is one store, one article folder and one SMTP server that the
// daemons of a test share.
type runEnv struct {
	t        *testing.T
	dir      string
	articles string
	db       string
	srv      *smtptest.Server
	nconf    int
	nart     int
}

func newRunEnv(t *testing.T, opts ...smtptest.Option) *runEnv {
	t.Helper()
	dir := t.TempDir()
	e := &runEnv{t: t, dir: dir, articles: filepath.Join(dir, "articles"), db: filepath.Join(dir, "digest.db"),
		srv: smtptest.Start(t, opts...)}
	if err := os.MkdirAll(e.articles, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DIGEST_SECRET", "run-test-secret-0123456789abcdef0123456789")
	return e
}

// config writes a config for a daemon of this env; daemonKeys go into
// [daemon].
func (e *runEnv) config(schedule string, concurrency int, daemonKeys string) string {
	e.t.Helper()
	e.nconf++
	cfg := fmt.Sprintf(`
[newsletter]
title = "Run Brief"
from = "Run Brief <brief@example.org>"
base_url = "https://news.example.org"
window = "720h"

[[editions]]
name = "daily"
schedule = %q

[[sources]]
name = "Notes"
path = %q

[smtp]
host = %q
port = %d
tls = "none"
concurrency = %d

[store]
path = %q

[server]
listen = "127.0.0.1:0"

[daemon]
lease_ttl = "1s"
shutdown_grace = "10s"
%s
`, schedule, e.articles, e.srv.Host, e.srv.Port, concurrency, e.db, daemonKeys)
	p := filepath.Join(e.dir, fmt.Sprintf("config-%d.toml", e.nconf))
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// article writes a new article file dated a second ahead, so that it falls
// after the window of any issue built before it was written (windows end
// on a whole second).
func (e *runEnv) article(title string) {
	e.t.Helper()
	e.articleAt(title, time.Now().Add(time.Second))
}

func (e *runEnv) articleAt(title string, at time.Time) {
	e.t.Helper()
	e.nart++
	date := at.UTC().Format(time.RFC3339)
	body := fmt.Sprintf("+++\ntitle = %q\ndate = %s\n+++\n\nBody of %s.\n", title, date, title)
	if err := os.WriteFile(filepath.Join(e.articles, fmt.Sprintf("a%02d.md", e.nart)), []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// cli runs one command in-process and fails the test unless it exits 0.
func (e *runEnv) cli(cfg string, args ...string) string {
	e.t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append([]string{"--config", cfg}, args...), &out, &errb); code != 0 {
		e.t.Fatalf("digest %v: exit %d\n%s", args, code, errb.String())
	}
	return out.String()
}

func (e *runEnv) subscribe(cfg string, emails ...string) {
	e.t.Helper()
	for _, m := range emails {
		e.cli(cfg, "subscribers", "add", m)
	}
}

// store opens the env's store for looking (a second connection, as
// `digest status` would).
func (e *runEnv) store() *store.DB {
	e.t.Helper()
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

func (e *runEnv) issues() []store.IssueSummary {
	e.t.Helper()
	is, err := e.store().RecentIssues(context.Background(), 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return is
}

// daemon is one in-process `digest run`.
type daemonProc struct {
	t      *testing.T
	cancel context.CancelFunc
	code   chan int
	logs   *runLogBuffer
	once   sync.Once
	exit   int
}

func (e *runEnv) start(ctx context.Context, cfg string) *daemonProc {
	e.t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	d := &daemonProc{t: e.t, cancel: cancel, code: make(chan int, 1), logs: &runLogBuffer{}}
	go func() {
		d.code <- run(ctx, []string{"--config", cfg, "--log-level", "debug", "run"}, io.Discard, d.logs)
	}()
	e.t.Cleanup(func() { d.stop() })
	return d
}

// stop cancels the daemon's context (what SIGTERM does) and returns its
// exit status.
func (d *daemonProc) stop() int {
	d.once.Do(func() {
		d.cancel()
		d.exit = d.wait()
	})
	return d.exit
}

func (d *daemonProc) wait() int {
	select {
	case c := <-d.code:
		return c
	case <-time.After(30 * time.Second):
		d.t.Errorf("digest run did not exit\n%s", d.logs.String())
		return -1
	}
}

// waitLog waits for a log line containing s.
func (d *daemonProc) waitLog(s string) {
	d.t.Helper()
	runEventually(d.t, fmt.Sprintf("log line %q", s), func() bool { return strings.Contains(d.logs.String(), s) }, d.logs)
}

var runListenRe = regexp.MustCompile(`msg="web server listening" addr=(\S+)`)

// url is the daemon's web address.
func (d *daemonProc) url() string {
	d.waitLog("web server listening")
	m := runListenRe.FindStringSubmatch(d.logs.String())
	if m == nil {
		d.t.Fatalf("no listen address in the log:\n%s", d.logs.String())
	}
	return "http://" + m[1]
}

// eventually polls cond until it holds or a deadline passes.
func runEventually(t *testing.T, what string, cond func() bool, logs *runLogBuffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if logs != nil {
				msg = logs.String()
			}
			t.Fatalf("timed out waiting for %s\n%s", what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runWaitMessages(t *testing.T, srv *smtptest.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.WaitFor(ctx, n); err != nil {
		t.Fatalf("waiting for %d messages (have %d): %v", n, srv.Len(), err)
	}
}

func TestRunSendsOnSchedule(t *testing.T) {
	e := newRunEnv(t)
	cfg := e.config("@every 1s", 2, "")
	readers := []string{"ann@example.net", "bob@example.net"}
	e.subscribe(cfg, readers...)
	e.article("Harbour bridge opens")

	d := e.start(context.Background(), cfg)
	runWaitMessages(t, e.srv, 2)
	for _, r := range readers {
		if n := e.srv.Count(r); n != 1 {
			t.Errorf("%s got %d messages, want 1", r, n)
		}
	}

	// The next runs find nothing new and send nothing.
	d.waitLog(`msg="nothing new: no issue sent" edition=daily slot=`)
	if n := e.srv.Len(); n != 2 {
		t.Fatalf("%d messages after an empty run, want 2", n)
	}

	// A new article goes out with the next run, alone.
	e.article("Library reopens")
	runWaitMessages(t, e.srv, 4)
	runEventually(t, "second issue finished", func() bool {
		is := e.issues()
		return len(is) == 2 && is[0].Status == store.IssueDone
	}, d.logs)
	is := e.issues()
	if len(is) != 2 || is[0].Articles != 1 || is[0].Status != store.IssueDone || is[0].Sent != 2 || is[0].Slot.IsZero() {
		t.Fatalf("issues = %+v, want 2 done, the newest with 1 article to 2 readers on a slot", is)
	}
	last := e.srv.Messages()[3]
	if !strings.Contains(string(last.Data), "Library reopens") || strings.Contains(string(last.Data), "Harbour bridge") {
		t.Error("the second issue does not carry (only) the new article")
	}

	// The web endpoints, /healthz and /metrics are served by the same process.
	base := d.url()
	var h struct {
		Status      string            `json:"status"`
		Leader      bool              `json:"leader"`
		Instance    string            `json:"instance"`
		IsScheduler bool              `json:"is_scheduler"`
		NextRuns    map[string]string `json:"next_runs"`
	}
	runGetJSON(t, base+"/healthz", &h)
	if h.Status != "ok" || !h.Leader || !h.IsScheduler || h.Instance == "" || h.NextRuns["daily"] == "" {
		t.Errorf("healthz = %+v", h)
	}
	metrics := runGet(t, base+"/metrics")
	for _, want := range []string{`digest_messages_sent_total{edition="daily"} 4`, `digest_daemon_leader 1`, `digest_last_issue_timestamp_seconds{edition="daily"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if form := runGet(t, base+"/"); !strings.Contains(form, "<form") {
		t.Error("GET / is not the subscribe form")
	}
	if list := runGet(t, base+"/archive"); !strings.Contains(list, "Library reopens") || !strings.Contains(list, "Harbour bridge opens") {
		t.Error("the daemon's /archive does not list both issues")
	}

	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, d.logs.String())
	}
	for _, want := range []string{"edition scheduled", "next_run=", "lease released", "stopped"} {
		if !strings.Contains(d.logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestRunTwoDaemonsSendEachIssueOnce(t *testing.T) {
	e := newRunEnv(t)
	cfgA := e.config("@every 1s", 2, "")
	cfgB := e.config("@every 1s", 2, "")
	readers := []string{"ann@example.net", "bob@example.net", "cem@example.net"}
	e.subscribe(cfgA, readers...)

	a := e.start(context.Background(), cfgA)
	a.waitLog("lease taken")
	b := e.start(context.Background(), cfgB)
	b.waitLog("another daemon holds the lease")

	e.article("First story")
	runWaitMessages(t, e.srv, 3)
	// Both daemons see the slots; only the holder runs them.
	a.waitLog(`msg="nothing new: no issue sent" edition=daily slot=`)

	// The first goes away; the second takes over and sends the next issue.
	if code := a.stop(); code != 0 {
		t.Fatalf("first daemon exit %d\n%s", code, a.logs.String())
	}
	b.waitLog("lease taken")
	e.article("Second story")
	runWaitMessages(t, e.srv, 6)
	b.waitLog(`msg="nothing new: no issue sent" edition=daily slot=`)
	if code := b.stop(); code != 0 {
		t.Fatalf("second daemon exit %d\n%s", code, b.logs.String())
	}

	for _, r := range readers {
		if n := e.srv.Count(r); n != 2 {
			t.Errorf("%s got %d messages, want 2 (one per issue)", r, n)
		}
	}
	ids := map[string]bool{}
	for _, m := range e.srv.Messages() {
		id := m.Header.Get("Message-Id")
		if ids[id] {
			t.Errorf("message %s sent twice", id)
		}
		ids[id] = true
	}
	is := e.issues()
	if len(is) != 2 || is[0].Slot.Equal(is[1].Slot) {
		t.Errorf("issues = %+v, want 2 on distinct slots", is)
	}
	if strings.Contains(b.logs.String()[:strings.Index(b.logs.String(), "lease taken")], "run started") {
		t.Error("the waiting daemon ran an edition before it held the lease")
	}
}

// TestRunStoppedMidSendIsFinishedByTheNext stops a daemon while a slow
// server is taking the issue, and starts another on the same store.
func TestRunStoppedMidSendIsFinishedByTheNext(t *testing.T) {
	e := newRunEnv(t, smtptest.WithDelay(100*time.Millisecond))
	cfg := e.config("@every 1s", 1, "")
	var readers []string
	for i := range 8 {
		readers = append(readers, fmt.Sprintf("reader%d@example.net", i))
	}
	e.subscribe(cfg, readers...)
	e.article("Slow news day")

	first := e.start(context.Background(), cfg)
	runWaitMessages(t, e.srv, 1)
	if code := first.stop(); code != 0 {
		t.Fatalf("first daemon exit %d\n%s", code, first.logs.String())
	}
	is := e.issues()
	if len(is) != 1 || is[0].Status != store.IssueSending || is[0].Pending == 0 {
		t.Fatalf("after the stop: issues %+v, want one unfinished issue", is)
	}
	if is[0].Sent != e.srv.Len() {
		t.Fatalf("ledger says %d sent, the server has %d", is[0].Sent, e.srv.Len())
	}

	second := e.start(context.Background(), cfg)
	second.waitLog("resuming")
	runEventually(t, "issue finished", func() bool {
		is := e.issues()
		return len(is) >= 1 && is[len(is)-1].Status == store.IssueDone
	}, second.logs)
	if code := second.stop(); code != 0 {
		t.Fatalf("second daemon exit %d\n%s", code, second.logs.String())
	}
	for _, r := range readers {
		if n := e.srv.Count(r); n != 1 {
			t.Errorf("%s got %d messages, want 1", r, n)
		}
	}
	if is := e.issues(); len(is) != 1 {
		t.Errorf("%d issues, want 1 (nothing new after the resumed one)", len(is))
	}
}

// TestRunSIGTERM sends the test process a real SIGTERM, caught by
// signal.NotifyContext as main does, while messages are held in flight.
func TestRunSIGTERM(t *testing.T) {
	release := make(chan struct{})
	held := make(chan struct{}, 100)
	var releasedOnce sync.Once
	e := newRunEnv(t, smtptest.WithGate(func() <-chan struct{} {
		held <- struct{}{}
		return release
	}))
	t.Cleanup(func() { releasedOnce.Do(func() { close(release) }) })
	cfg := e.config("@every 1s", 3, "")
	var readers []string
	for i := range 12 {
		readers = append(readers, fmt.Sprintf("reader%02d@example.net", i))
	}
	e.subscribe(cfg, readers...)
	e.article("Storm warning")

	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stopSignals()
	d := e.start(ctx, cfg)
	for range 3 { // every worker holds a message at the server
		select {
		case <-held:
		case <-time.After(20 * time.Second):
			t.Fatalf("messages not in flight\n%s", d.logs.String())
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	d.waitLog("stopping: no new runs")
	releasedOnce.Do(func() { close(release) }) // the messages in flight complete
	if code := d.wait(); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0\n%s", code, d.logs.String())
	}
	d.once.Do(func() {})

	// The ledger matches the server: every accepted message is marked
	// sent, everything else is pending for the next run.
	is := e.issues()
	if len(is) != 1 {
		t.Fatalf("issues %+v, want 1", is)
	}
	got := e.srv.Len()
	if is[0].Sent != got || got < 3 || is[0].Pending != len(readers)-got || is[0].Status != store.IssueSending {
		t.Errorf("ledger sent=%d pending=%d status=%s, server has %d of %d: want the in-flight 3+ sent and the rest pending",
			is[0].Sent, is[0].Pending, is[0].Status, got, len(readers))
	}
	if !strings.Contains(d.logs.String(), "all sends finished") {
		t.Error("log does not say the sends finished")
	}
}

func TestRunMissedSlot(t *testing.T) {
	tests := []struct {
		name     string
		grace    string
		lastAgo  time.Duration // the last handled slot, before now
		wantSent bool
		wantLog  string
	}{
		// @every 2h: the slot after `last` is 10 minutes ago.
		{name: "within grace is sent once", grace: "6h", lastAgo: 2*time.Hour + 10*time.Minute, wantSent: true, wantLog: "sending a missed slot"},
		// The slot after `last` is an hour ago, the grace 30 minutes.
		{name: "older than grace is skipped", grace: "30m", lastAgo: 3 * time.Hour, wantLog: "older than the grace period were skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRunEnv(t)
			cfg := e.config("@every 2h", 2, fmt.Sprintf("grace = %q", tt.grace))
			readers := []string{"ann@example.net", "bob@example.net"}
			e.subscribe(cfg, readers...)
			e.articleAt("While you were away", time.Now().Add(-time.Minute))
			last := time.Now().Add(-tt.lastAgo).Truncate(time.Second)
			missed := last.Add(2 * time.Hour)
			st := e.store()
			if err := st.SetLastSlot(context.Background(), "daily", last); err != nil {
				t.Fatal(err)
			}

			// Twice: the second start must not send the slot again.
			for i := range 2 {
				d := e.start(context.Background(), cfg)
				d.waitLog("run finished") // the catch-up run at start
				if code := d.stop(); code != 0 {
					t.Fatalf("exit %d\n%s", code, d.logs.String())
				}
				want := tt.wantLog
				if i == 1 {
					want = `msg="no slot due"`
				}
				if !strings.Contains(d.logs.String(), want) {
					t.Errorf("start %d: log lacks %q\n%s", i+1, want, d.logs.String())
				}
			}

			is := e.issues()
			want := 0
			if tt.wantSent {
				want = 1
				if len(is) != 1 || !is[0].Slot.Equal(missed) || is[0].Status != store.IssueDone {
					t.Fatalf("issues %+v, want one done for the slot %v", is, missed)
				}
			} else if len(is) != 0 {
				t.Fatalf("issues %+v, want none", is)
			}
			for _, r := range readers {
				if n := e.srv.Count(r); n != want {
					t.Errorf("%s got %d messages, want %d", r, n, want)
				}
			}
			got, _, err := st.LastSlot(context.Background(), "daily")
			if err != nil || !got.Equal(missed) {
				t.Errorf("last slot %v (%v), want %v", got, err, missed)
			}
		})
	}
}

func runGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, resp.StatusCode, b)
	}
	return string(b)
}

func runGetJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(runGet(t, url)), v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// runLogBuffer collects a daemon's log while the test reads it.
type runLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  atomic.Int64
}

func (l *runLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n.Add(int64(len(p)))
	return l.b.Write(p)
}

func (l *runLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
