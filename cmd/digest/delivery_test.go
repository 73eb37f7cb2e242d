package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
)

// sendEnv is one store, one SMTP server and a config pointing digest at
// both, for the delivery promises: driven in-process (cli) or as real
// processes (start).
type sendEnv struct {
	t    *testing.T
	dir  string
	cfg  string
	srv  *smtptest.Server
	env  []string
	opts store.Options // the store the config names
}

const sendSecret = "delivery-test-secret-0123456789abcdef"

// newSendEnv writes writeConfig's config with a short claim TTL (a killed
// sender's rows come free in two seconds); deliveryKeys go into [delivery],
// and may open further sections.
func newSendEnv(t *testing.T, deliveryKeys string, opts ...smtptest.Option) *sendEnv {
	t.Helper()
	return newSendEnvOn(t, store.DriverSQLite, deliveryKeys, opts...)
}

// newSendEnvOn is newSendEnv on the store backend names (store.DriverSQLite
// or store.DriverPostgres: a fresh database on the test server).
func newSendEnvOn(t *testing.T, backend, deliveryKeys string, opts ...smtptest.Option) *sendEnv {
	t.Helper()
	dir := t.TempDir()
	section, so := storeFor(t, backend, dir)
	srv := smtptest.Start(t, opts...)
	cfg := writeConfigStore(t, dir, srv, section, "[delivery]\nclaim_ttl = \"2s\"\nmark_batch = 8\n"+deliveryKeys)
	t.Setenv("DIGEST_SECRET", sendSecret)
	return &sendEnv{t: t, dir: dir, cfg: cfg, srv: srv, env: os.Environ(), opts: so}
}

// edit replaces old with new in the config file.
func (e *sendEnv) edit(old, new string) {
	e.t.Helper()
	b, err := os.ReadFile(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		e.t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(e.cfg, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// cli runs one digest command in-process.
func (e *sendEnv) cli(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	return runCLI(e.t, append([]string{"--config", e.cfg}, args...)...)
}

// exec runs one command as a real process (no race detector: fast enough
// for thousands of messages) and waits for it.
func (e *sendEnv) exec(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	p := e.start(args...)
	code = p.wait(e.t)
	return code, p.stdout.String(), p.stderr.String()
}

// subscribe imports n confirmed readers, addr(0) … addr(n-1).
func (e *sendEnv) subscribe(n int) {
	e.t.Helper()
	var csv strings.Builder
	csv.WriteString("email,name\n")
	for i := range n {
		fmt.Fprintf(&csv, "%s,Reader %d\n", addr(i), i)
	}
	p := filepath.Join(e.dir, "list.csv")
	if err := os.WriteFile(p, []byte(csv.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if code, _, stderr := e.exec("subscribers", "import", p); code != 0 {
		e.t.Fatalf("import: exit %d: %s", code, stderr)
	}
}

func addr(i int) string { return fmt.Sprintf("reader%04d@example.net", i) }

// proc is a real digest process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	code           int
}

func (e *sendEnv) start(args ...string) *proc {
	e.t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(buildBinary(e.t), append([]string{"--config", e.cfg}, args...)...)
	p.cmd.Env = e.env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait returns the exit status, failing the test after a minute.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("digest %v did not exit\n%s", p.cmd.Args[1:], p.stderr.String())
		return -1
	}
}

// waitMessages waits until the server has accepted n messages.
func (e *sendEnv) waitMessages(n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.srv.WaitFor(ctx, n); err != nil {
		e.t.Fatal(err)
	}
}

// exactlyOnce checks that each of the n readers got exactly one message.
func (e *sendEnv) exactlyOnce(n int) {
	e.t.Helper()
	bad := 0
	for i := range n {
		if c := e.srv.Count(addr(i)); c != 1 {
			if bad < 5 {
				e.t.Errorf("%s got %d messages, want 1", addr(i), c)
			}
			bad++
		}
	}
	if bad > 0 {
		e.t.Fatalf("%d of %d readers did not get exactly one message (server: %d in all)", bad, n, e.srv.Len())
	}
}

func (e *sendEnv) store() *store.DB {
	e.t.Helper()
	st, err := store.OpenWith(context.Background(), e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

func (e *sendEnv) issues() []store.IssueSummary {
	e.t.Helper()
	is, err := e.store().RecentIssues(context.Background(), 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return is
}

// TestManualSendWhileRunSends: `digest send` by hand while `digest run` is
// sending the scheduled issue.
func TestManualSendWhileRunSends(t *testing.T) {
	const n = 1500
	e := newSendEnv(t, "[daemon]\nlease_ttl = \"1s\"\n[server]\nlisten = \"127.0.0.1:0\"\n", smtptest.WithDelay(2*time.Millisecond))
	e.edit(`schedule = "@weekly"`, `schedule = "@every 1s"`)
	e.subscribe(n)
	daemon := e.start("run")
	e.waitMessages(n / 3)
	manual := e.start("send", "--no-progress")
	if code := manual.wait(t); code != 0 {
		t.Fatalf("manual send: exit %d\n%s", code, manual.stderr.String())
	}
	// The manual send returns once the issue is done, the daemon's share
	// included.
	if is := e.issues(); len(is) != 1 || is[0].Status != store.IssueDone {
		t.Fatalf("issues after the manual send: %+v", is)
	}
	if err := daemon.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := daemon.wait(t); code != 0 {
		t.Fatalf("digest run: exit %d\n%s", code, daemon.stderr.String())
	}
	e.exactlyOnce(n)
}

// TestRelayDeniedPausesAndFixedRelayDeliversTheRest: a relay answering
// every RCPT "550 5.7.1 Relaying denied" bounces nobody; the send pauses
// and exits 1 naming the reply; after the fix the rest go out once each.
func TestRelayDeniedPausesAndFixedRelayDeliversTheRest(t *testing.T) {
	const n = 3000
	var broken atomic.Bool
	broken.Store(true)
	e := newSendEnv(t, "", smtptest.WithReply(func(_, _ string) error {
		if broken.Load() {
			return smtptest.Error(550, "5.7.1", "Relaying denied")
		}
		return nil
	}))
	e.subscribe(n)
	code, stdout, stderr := e.exec("send", "--no-progress")
	if code != 1 || !strings.Contains(stderr, "550 5.7.1 Relaying denied") || !strings.Contains(stdout, "Paused") {
		t.Fatalf("exit %d, want 1 naming the reply\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if c, _ := e.store().CountSubscribers(context.Background(), store.Filter{Status: store.StatusBounced}); c != 0 {
		t.Fatalf("%d subscribers marked bounced", c)
	}
	broken.Store(false)
	if code, stdout, stderr := e.exec("send", "--no-progress"); code != 0 || !strings.Contains(stdout, "complete") {
		t.Fatalf("after the fix: exit %d\n%s\n%s", code, stdout, stderr)
	}
	e.exactlyOnce(n)
}

// TestDiskFullStopsTheSend: the ledger stops taking marks (a trigger in
// the real SQLite file standing in for a full disk): the send stops within
// the messages in flight and exits 1; the rerun after the fix sends only
// what was not recorded.
func TestDiskFullStopsTheSend(t *testing.T) {
	const n = 600
	e := newSendEnv(t, "")
	e.subscribe(n)
	raw, err := sql.Open("sqlite", filepath.Join(e.dir, "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER disk_full BEFORE UPDATE OF status ON deliveries
		WHEN NEW.status = 'sent' AND (SELECT count(*) FROM deliveries WHERE status = 'sent') >= 200
		BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := e.exec("send", "--no-progress")
	if code != 1 || !strings.Contains(stderr, "ledger") || !strings.Contains(stderr, "disk is full") {
		t.Fatalf("exit %d, want 1 naming the ledger\n%s", code, stderr)
	}
	sent := e.issues()[0].Sent
	unrecorded := e.srv.Len() - sent
	if bound := delivery.MaxInFlight(4, 8); unrecorded < 0 || unrecorded > bound {
		t.Fatalf("server has %d, ledger %d: more than the %d in flight went out unrecorded", e.srv.Len(), sent, bound)
	}
	if _, err := raw.Exec("DROP TRIGGER disk_full"); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := e.exec("send", "--no-progress"); code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	dups := 0
	for i := range n {
		c := e.srv.Count(addr(i))
		if c == 0 {
			t.Fatalf("%s got nothing", addr(i))
		}
		dups += c - 1
	}
	if dups != unrecorded {
		t.Fatalf("%d duplicates, want the %d unrecorded", dups, unrecorded)
	}
}

// TestHangPastTimeoutExitsNonZero: a server stalling after DATA past
// smtp.timeout is never reported as sent.
func TestHangPastTimeoutExitsNonZero(t *testing.T) {
	const n = 40
	e := newSendEnv(t, "", smtptest.WithDataHook(func(_ string, to []string, try int) error {
		if try == 1 && (to[0] == addr(3) || to[0] == addr(17)) {
			return smtptest.ErrHang
		}
		return nil
	}))
	e.edit("concurrency = 4", "concurrency = 4\ntimeout = \"2s\"")
	e.subscribe(n)
	code, stdout, stderr := e.cli("send", "--no-progress", "--json")
	var sum struct {
		State string
		Sent  int
	}
	json.Unmarshal([]byte(stdout), &sum)
	if code != 1 || sum.State != "pending" || sum.Sent != n-2 || !strings.Contains(stderr, "2 recipients left pending") {
		t.Fatalf("exit %d, %+v: want 1 with 2 pending\n%s", code, sum, stderr)
	}
	if code, _, stderr := e.cli("send", "--no-progress"); code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	e.exactlyOnce(n)
}

// TestEditionsIndependentOnTheExample runs the example config's weekly and
// daily editions against one store: what one sends is still new for the
// other.
func TestEditionsIndependentOnTheExample(t *testing.T) {
	srv := smtptest.Start(t)
	dir := t.TempDir()
	ex, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	articles, _ := filepath.Abs("../../examples/articles")
	cfg := string(ex)
	for old, new := range map[string]string{
		`path = "examples/articles"`: fmt.Sprintf("path = %q", articles),
		`path = "digest.db"`:         fmt.Sprintf("path = %q", filepath.Join(dir, "digest.db")),
		"port = 1025":                fmt.Sprintf("port = %d", srv.Port),
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("example config has no %q", old)
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte(cfg), 0o644)
	t.Setenv("DIGEST_SECRET", sendSecret)
	cli := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"--config", path}, args...)...)
		if code != 0 {
			t.Fatalf("digest %v: exit %d\n%s", args, code, stderr)
		}
		return stdout
	}
	cli("subscribers", "add", "weekly@example.net")
	cli("subscribers", "add", "daily@example.net", "--edition", "daily")
	if out := cli("send", "--edition", "daily", "--no-progress"); srv.Count("daily@example.net") != 1 {
		t.Fatalf("daily send:\n%s", out)
	}
	if out := cli("send", "--edition", "weekly", "--no-progress"); strings.Contains(out, "Nothing new") || srv.Count("weekly@example.net") != 1 {
		t.Fatalf("weekly after daily sent nothing: the daily edition used up the articles\n%s", out)
	}
	if out := cli("send", "--edition", "daily", "--no-progress"); !strings.Contains(out, "Nothing new") || srv.Len() != 2 {
		t.Fatalf("daily again should have nothing new:\n%s", out)
	}
}

// TestEverySourceFailingExitsOne: silence is never success.
func TestEverySourceFailingExitsOne(t *testing.T) {
	e := newSendEnv(t, "")
	e.subscribe(3)
	notes, _ := filepath.Abs("../../examples/articles")
	good := fmt.Sprintf("name = \"Local notes\"\npath = %q", notes)
	dead := "name = \"Dead feed\"\nurl = \"http://127.0.0.1:1/feed.xml\"\n[[sources]]\nname = \"Gone file\"\nurl = \"file:///nonexistent/feed.xml\""
	e.edit(good, dead)
	code, stdout, stderr := e.cli("send", "--no-progress")
	if code != 1 || !strings.Contains(stderr, `"Dead feed"`) || !strings.Contains(stderr, `"Gone file"`) {
		t.Fatalf("exit %d, want 1 naming both sources\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "Nothing new") || e.srv.Len() != 0 {
		t.Fatalf("reported as nothing new or sent:\n%s", stdout)
	}
	// One source back: the issue goes out, the failure is reported.
	e.edit(dead, good+"\n[[sources]]\nname = \"Dead feed\"\nurl = \"http://127.0.0.1:1/feed.xml\"")
	code, stdout, stderr = e.cli("send", "--no-progress")
	if code != 0 || !strings.Contains(stdout, `! source "Dead feed" failed`) || e.srv.Len() != 3 {
		t.Fatalf("exit %d with one source failing\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// TestSendSummarySaysWhatHappened: --json has the real duration, and the
// text never claims a send that did not happen.
func TestSendSummarySaysWhatHappened(t *testing.T) {
	e := newSendEnv(t, "", smtptest.WithDelay(5*time.Millisecond))
	e.subscribe(10)
	code, stdout, stderr := e.cli("send", "--no-progress", "--json")
	var sum struct {
		Seconds float64
		State   string
		Sent    int
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if sum.Seconds <= 0 || sum.State != "done" || sum.Sent != 10 {
		t.Fatalf("summary %+v: want seconds > 0, done, 10 sent", sum)
	}
	code, stdout, _ = e.cli("send", "--no-progress")
	if code != 0 || !strings.Contains(stdout, "Nothing new") || strings.Contains(stdout, "Issue") || strings.Contains(stdout, "sent 0") {
		t.Fatalf("second send with nothing new: exit %d\n%s", code, stdout)
	}
}

// TestRunReportsEverySourceFailing: in `digest run` a scheduled edition
// whose sources all fail is a failed run naming them, on /healthz too, not
// a quiet "nothing new".
func TestRunReportsEverySourceFailing(t *testing.T) {
	e := newRunEnv(t)
	cfg := e.config("@every 1s", 1, "")
	b, _ := os.ReadFile(cfg)
	src := fmt.Sprintf("name = \"Notes\"\npath = %q", e.articles)
	if !bytes.Contains(b, []byte(src)) {
		t.Fatalf("config has no %q", src)
	}
	os.WriteFile(cfg, bytes.Replace(b, []byte(src), []byte("name = \"Dead feed\"\nurl = \"http://127.0.0.1:1/feed.xml\""), 1), 0o644)
	e.subscribe(cfg, "ann@example.net")
	d := e.start(context.Background(), cfg)
	d.waitLog(`msg="run failed"`)
	if !strings.Contains(d.logs.String(), `every source failed`) || !strings.Contains(d.logs.String(), `Dead feed`) {
		t.Fatalf("the failed run does not name the source:\n%s", d.logs.String())
	}
	var h struct {
		LastRuns map[string]struct{ Outcome, Error string } `json:"last_runs"`
	}
	runGetJSON(t, d.url()+"/healthz", &h)
	if r := h.LastRuns["daily"]; r.Outcome != "error" || !strings.Contains(r.Error, "Dead feed") {
		t.Errorf("healthz last run %+v", r)
	}
	if e.srv.Len() != 0 || len(e.issues()) != 0 {
		t.Fatal("an issue was made from nothing")
	}
}
