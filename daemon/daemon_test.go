package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
)

func openStore(t *testing.T) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func testConfig(schedule string) *config.Config {
	cfg := config.Default()
	cfg.Editions = []config.Edition{{Name: "daily", Schedule: schedule}}
	cfg.Daemon.LeaseTTL = time.Second
	cfg.Daemon.ShutdownGrace = 5 * time.Second
	cfg.Daemon.Timezone = "UTC" // schedules without CRON_TZ would follow the machine's zone
	return cfg
}

// call is one invocation of the fake send.
type call struct {
	holder  string
	edition string
	slot    time.Time
}

// recorder is a fake SendFunc that reports each call on a channel.
type recorder struct {
	calls chan call
	fn    func(ctx context.Context, n int, edition string, slot time.Time) (delivery.Summary, error)
	n     atomic.Int32
}

func newRecorder() *recorder { return &recorder{calls: make(chan call, 100)} }

func (r *recorder) send(holder string) SendFunc {
	return func(ctx context.Context, edition string, slot time.Time) (delivery.Summary, error) {
		n := int(r.n.Add(1))
		r.calls <- call{holder, edition, slot}
		if r.fn != nil {
			return r.fn(ctx, n, edition, slot)
		}
		return delivery.Summary{Edition: edition, Issue: int64(n), Sent: 1}, nil
	}
}

// next waits for the next call, failing the test after d.
func (r *recorder) next(t *testing.T, d time.Duration) call {
	t.Helper()
	select {
	case c := <-r.calls:
		return c
	case <-time.After(d):
		t.Fatalf("no send within %v", d)
		return call{}
	}
}

func newDaemon(t *testing.T, cfg *config.Config, st Store, send SendFunc, holder string, now func() time.Time, log *slog.Logger) *Daemon {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := New(Options{Config: cfg, Store: st, Send: send, Holder: holder, Logger: log, Now: now, Metrics: NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// start runs d in the background; the returned func stops it and returns
// Run's error.
func start(t *testing.T, d *Daemon) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestScheduleSendsOnEverySlot(t *testing.T) {
	st := openStore(t)
	rec := newRecorder()
	d := newDaemon(t, testConfig("@every 1s"), st, rec.send("a"), "a", nil, nil)
	stop := start(t, d)

	first := rec.next(t, 5*time.Second)
	second := rec.next(t, 5*time.Second)
	for _, c := range []call{first, second} {
		if c.edition != "daily" || c.slot.IsZero() || c.slot.Nanosecond() != 0 {
			t.Errorf("call %+v: want edition daily and a whole-second slot", c)
		}
	}
	if !second.slot.After(first.slot) {
		t.Errorf("slots not increasing: %v then %v", first.slot, second.slot)
	}
	waitFor(t, "last slot recorded", func() bool {
		last, ok, err := st.LastSlot(context.Background(), "daily")
		return err == nil && ok && !last.Before(second.slot)
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// A clean stop releases the lease at once.
	ok, err := st.AcquireLease(context.Background(), LeaseName, "other", time.Minute, time.Now())
	if err != nil || !ok {
		t.Errorf("lease not released after a clean stop: ok=%v err=%v", ok, err)
	}
}

func TestDue(t *testing.T) {
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name      string
		spec      string
		last, now time.Time
		want      time.Time
		tooOld    int
		newestOld time.Time
		coalesced int
	}{
		{name: "on time", spec: "0 7 * * *", last: day(24, 7, 0), now: day(25, 7, 0).Add(time.Millisecond), want: day(25, 7, 0)},
		{name: "nothing due", spec: "0 7 * * *", last: day(25, 7, 0), now: day(25, 9, 0)},
		{name: "missed within grace", spec: "0 7 * * *", last: day(24, 7, 0), now: day(25, 12, 59), want: day(25, 7, 0)},
		{name: "missed past grace", spec: "0 7 * * *", last: day(24, 7, 0), now: day(25, 13, 1), tooOld: 1, newestOld: day(25, 7, 0)},
		{name: "older skipped, latest sent", spec: "0 7 * * *", last: day(22, 7, 0), now: day(25, 8, 0), want: day(25, 7, 0), tooOld: 2, newestOld: day(24, 7, 0)},
		{name: "several within grace folded", spec: "*/10 * * * *", last: day(25, 6, 0), now: day(25, 6, 35), want: day(25, 6, 30), coalesced: 2},
		{name: "timezone", spec: "CRON_TZ=Europe/Berlin 0 7 * * *", last: day(24, 6, 0), now: day(25, 6, 30), want: day(25, 6, 0)},
		{name: "descriptor", spec: "@daily", last: day(24, 0, 0), now: day(25, 0, 5), want: day(25, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.spec)
			cfg.Daemon.Grace = 6 * time.Hour
			d := newDaemon(t, cfg, openStore(t), newRecorder().send("a"), "a", nil, nil)
			slot, tooOld, newestOld, coalesced := d.due(d.eds[0].sched, tt.last, tt.now)
			if !slot.Equal(tt.want) || tooOld != tt.tooOld || !newestOld.Equal(tt.newestOld) || coalesced != tt.coalesced {
				t.Errorf("due = %v, %d, %v, %d; want %v, %d, %v, %d", slot, tooOld, newestOld, coalesced, tt.want, tt.tooOld, tt.newestOld, tt.coalesced)
			}
		})
	}
}

// TestCatchUp drives one run (what happens at start and at each tick)
// with a fixed clock against a real store.
func TestCatchUp(t *testing.T) {
	ctx := context.Background()
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	type setup struct {
		last     time.Time
		openSlot time.Time // an unfinished issue with this slot
		doneSlot time.Time // a finished issue with this slot
	}
	tests := []struct {
		name      string
		now       time.Time
		setup     setup
		fn        func(ctx context.Context, n int, edition string, slot time.Time) (delivery.Summary, error)
		wantSlots []time.Time
		wantLast  time.Time
		wantLog   string
	}{
		{name: "missed slot within grace is sent once", now: day(25, 9), setup: setup{last: day(24, 7)},
			wantSlots: []time.Time{day(25, 7)}, wantLast: day(25, 7), wantLog: "sending a missed slot"},
		{name: "older slots skipped and logged", now: day(25, 9), setup: setup{last: day(22, 7)},
			wantSlots: []time.Time{day(25, 7)}, wantLast: day(25, 7), wantLog: "skipped=2"},
		{name: "slot past grace is not sent", now: day(25, 14), setup: setup{last: day(24, 7)},
			wantLast: day(25, 7), wantLog: "older than the grace period"},
		{name: "nothing due", now: day(25, 9), setup: setup{last: day(25, 7)}, wantLast: day(25, 7)},
		{name: "unfinished issue resumed without a due slot", now: day(25, 9), setup: setup{last: day(25, 7), openSlot: day(25, 7)},
			wantSlots: []time.Time{day(25, 7)}, wantLast: day(25, 7), wantLog: "resuming an unfinished issue"},
		{name: "slot already sent is not sent again", now: day(25, 9), setup: setup{last: day(24, 7), doneSlot: day(25, 7)},
			wantLast: day(25, 7), wantLog: "slot already sent"},
		{name: "slot taken by another run counts as handled", now: day(25, 9), setup: setup{last: day(24, 7)},
			fn: func(context.Context, int, string, time.Time) (delivery.Summary, error) {
				return delivery.Summary{}, store.ErrSlotTaken
			},
			wantSlots: []time.Time{day(25, 7)}, wantLast: day(25, 7), wantLog: "slot already has an issue"},
		{name: "resume of an older issue is followed by this slot's issue", now: day(25, 9), setup: setup{last: day(24, 7)},
			fn: func(_ context.Context, n int, edition string, _ time.Time) (delivery.Summary, error) {
				return delivery.Summary{Edition: edition, Issue: int64(n), Resumed: n == 1}, nil
			},
			wantSlots: []time.Time{day(25, 7), day(25, 7)}, wantLast: day(25, 7)},
		{name: "interrupted send leaves the slot unhandled", now: day(25, 9), setup: setup{last: day(24, 7)},
			fn: func(context.Context, int, string, time.Time) (delivery.Summary, error) {
				return delivery.Summary{}, context.Canceled
			},
			wantSlots: []time.Time{day(25, 7)}, wantLast: day(24, 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			if err := st.SetLastSlot(ctx, "daily", tt.setup.last); err != nil {
				t.Fatal(err)
			}
			for _, is := range []store.Issue{{Slot: tt.setup.openSlot, Status: store.IssueSending}, {Slot: tt.setup.doneSlot, Status: store.IssueDone}} {
				if is.Slot.IsZero() {
					continue
				}
				is.Edition = "daily"
				if _, err := st.CreateIssue(ctx, is, "daily"); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			cfg := testConfig("0 7 * * *")
			cfg.Daemon.Grace = 6 * time.Hour
			rec := newRecorder()
			rec.fn = tt.fn
			d := newDaemon(t, cfg, st, rec.send("a"), "a", func() time.Time { return tt.now }, log)

			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			if strings.Contains(tt.name, "interrupted") {
				rec.fn = func(context.Context, int, string, time.Time) (delivery.Summary, error) {
					cancel() // the stop arrives mid-send
					return delivery.Summary{}, context.Canceled
				}
			}
			d.fire(runCtx, d.eds[0])

			close(rec.calls)
			var got []time.Time
			for c := range rec.calls {
				got = append(got, c.slot)
			}
			if len(got) != len(tt.wantSlots) {
				t.Fatalf("sends for slots %v, want %v", got, tt.wantSlots)
			}
			for i := range got {
				if !got[i].Equal(tt.wantSlots[i]) {
					t.Errorf("send %d for slot %v, want %v", i, got[i], tt.wantSlots[i])
				}
			}
			last, _, err := st.LastSlot(ctx, "daily")
			if err != nil || !last.Equal(tt.wantLast) {
				t.Errorf("last slot = %v (%v), want %v", last, err, tt.wantLast)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
		})
	}
}

func TestBaselineRecordedOnFirstStart(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	d := newDaemon(t, testConfig("0 7 * * *"), st, newRecorder().send("a"), "a", func() time.Time { return now }, nil)
	stop := start(t, d)
	waitFor(t, "baseline slot", func() bool {
		last, ok, err := st.LastSlot(context.Background(), "daily")
		return err == nil && ok && last.Equal(now)
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestTwoDaemonsOneSender(t *testing.T) {
	st := openStore(t)
	rec := newRecorder()
	cfg := testConfig("@every 1s")
	a := newDaemon(t, cfg, st, rec.send("a"), "a", nil, nil)
	b := newDaemon(t, cfg, st, rec.send("b"), "b", nil, nil)
	stopA := start(t, a)
	waitFor(t, "a to lead", a.Leader)
	start(t, b)

	// Several slots, over many lease TTLs: only a sends, each slot once.
	seen := map[time.Time]bool{}
	for range 3 {
		c := rec.next(t, 5*time.Second)
		if c.holder != "a" {
			t.Fatalf("send by %s while a holds the lease", c.holder)
		}
		if seen[c.slot] {
			t.Fatalf("slot %v sent twice", c.slot)
		}
		seen[c.slot] = true
	}
	if b.Leader() {
		t.Fatal("b leads while a does")
	}

	// a goes away: b takes over and sends the next slots.
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	for len(rec.calls) > 0 {
		<-rec.calls // a's last sends, queued before it stopped
	}
	waitFor(t, "b to lead", b.Leader)
	c := rec.next(t, 5*time.Second)
	if c.holder != "b" || seen[c.slot] {
		t.Errorf("after a stopped: send %+v, want a new slot by b", c)
	}
}

// flaky lets a test take the lease away from a daemon.
type flaky struct {
	*store.DB
	refuse atomic.Bool
}

func (f *flaky) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if f.refuse.Load() {
		return false, nil
	}
	return f.DB.AcquireLease(ctx, name, holder, ttl, now)
}

func TestLeaseLostStopsSending(t *testing.T) {
	st := &flaky{DB: openStore(t)}
	rec := newRecorder()
	d := newDaemon(t, testConfig("@every 1s"), st, rec.send("a"), "a", nil, nil)
	stop := start(t, d)
	waitFor(t, "lead", d.Leader)
	rec.next(t, 5*time.Second)

	st.refuse.Store(true)
	waitFor(t, "lease lost", func() bool { return !d.Leader() })
	st.refuse.Store(false)
	waitFor(t, "lead again", d.Leader)
	rec.next(t, 5*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownLetsSendFinish(t *testing.T) {
	st := openStore(t)
	rec := newRecorder()
	started := make(chan struct{})
	var finished atomic.Bool
	var sawCancel atomic.Bool
	rec.fn = func(ctx context.Context, n int, edition string, _ time.Time) (delivery.Summary, error) {
		if n > 1 {
			return delivery.Summary{}, nil
		}
		close(started)
		<-ctx.Done() // the stop: no new messages, the ones in flight finish
		sawCancel.Store(true)
		finished.Store(true)
		return delivery.Summary{Edition: edition, Issue: 1, Sent: 1}, ctx.Err()
	}
	d := newDaemon(t, testConfig("@every 1s"), st, rec.send("a"), "a", nil, nil)
	stop := start(t, d)
	<-started
	if err := stop(); err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	if !finished.Load() || !sawCancel.Load() {
		t.Error("Run returned before the running send finished")
	}
}

func TestShutdownGraceExceeded(t *testing.T) {
	st := openStore(t)
	rec := newRecorder()
	started := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rec.fn = func(ctx context.Context, n int, _ string, _ time.Time) (delivery.Summary, error) {
		if n == 1 {
			close(started)
			<-release // ignores the stop
		}
		return delivery.Summary{}, nil
	}
	cfg := testConfig("@every 1s")
	cfg.Daemon.ShutdownGrace = 100 * time.Millisecond
	cfg.Daemon.LeaseTTL = time.Minute
	d := newDaemon(t, cfg, st, rec.send("a"), "a", nil, nil)
	stop := start(t, d)
	<-started
	if err := stop(); !errors.Is(err, ErrStillRunning) {
		t.Fatalf("Run: %v, want ErrStillRunning", err)
	}
	// The lease stays with the stuck process until it expires.
	ok, err := st.AcquireLease(context.Background(), LeaseName, "other", time.Minute, time.Now())
	if err != nil || ok {
		t.Errorf("another daemon got the lease while a send still runs: ok=%v err=%v", ok, err)
	}
}

func TestPanickingSendDoesNotKillTheDaemon(t *testing.T) {
	st := openStore(t)
	rec := newRecorder()
	rec.fn = func(_ context.Context, n int, _ string, _ time.Time) (delivery.Summary, error) {
		if n == 1 {
			panic("boom")
		}
		return delivery.Summary{}, nil
	}
	var logs syncBuffer
	d := newDaemon(t, testConfig("@every 1s"), st, rec.send("a"), "a", nil, slog.New(slog.NewTextHandler(&logs, nil)))
	stop := start(t, d)
	rec.next(t, 5*time.Second)
	rec.next(t, 5*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "panic") {
		t.Errorf("panic not logged:\n%s", logs.String())
	}
}

func TestNextRuns(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) // a Wednesday
	cfg := config.Default()
	cfg.Daemon.Timezone = "Europe/Berlin"
	cfg.Editions = []config.Edition{
		{Name: "daily", Schedule: "0 7 * * *", Timezone: "America/New_York"},
		{Name: "weekly", Schedule: "0 7 * * MON"},
		{Name: "utc", Schedule: "CRON_TZ=UTC @daily"},
		{Name: "hourly", Schedule: "@every 1h"},
	}
	d := newDaemon(t, cfg, openStore(t), newRecorder().send("a"), "a", func() time.Time { return now }, nil)
	got := d.NextRuns()
	want := map[string]time.Time{
		"daily":  time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), // 07:00 EST
		"weekly": time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC),  // Monday 07:00 CET
		"utc":    time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		"hourly": now.Add(time.Hour),
	}
	for name, w := range want {
		if !got[name].Equal(w) {
			t.Errorf("%s: next run %v, want %v", name, got[name], w)
		}
	}
}

func TestMetricsAndHealth(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	if err := st.SetLastSlot(ctx, "daily", now.Add(-26*time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	rec.fn = func(_ context.Context, _ int, edition string, _ time.Time) (delivery.Summary, error) {
		return delivery.Summary{Edition: edition, Issue: 7, Articles: 4, Recipients: 5, Sent: 3, FailedPermanent: 1, FailedTemporary: 1, Seconds: 2.5,
			Digest: &digest.Digest{Errors: []digest.SourceError{{Source: "Example feed", Error: "timeout"}}}}, nil
	}
	cfg := testConfig("0 7 * * *")
	d, err := New(Options{Config: cfg, Store: st, Send: rec.send("a"), Holder: "a", Now: func() time.Time { return now }, Metrics: NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	d.fire(ctx, d.eds[0])

	rr := httptest.NewRecorder()
	d.o.Metrics.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	body := rr.Body.String()
	for _, want := range []string{
		`digest_messages_sent_total{edition="daily"} 3`,
		`digest_messages_failed_total{edition="daily",kind="permanent"} 1`,
		`digest_messages_failed_total{edition="daily",kind="temporary"} 1`,
		`digest_feed_errors_total{source="Example feed"} 1`,
		`digest_issue_duration_seconds_count{edition="daily"} 1`,
		`digest_last_issue_timestamp_seconds{edition="daily"} ` + strconv.FormatFloat(float64(now.Unix()), 'e', -1, 64),
		`digest_runs_total{edition="daily",outcome="sent"} 1`,
		`digest_runs_total{edition="daily",outcome="empty"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q in\n%s", want, grepLines(body, "digest_"))
		}
	}

	get := func() (int, Health) {
		rr := httptest.NewRecorder()
		d.HealthHandler().ServeHTTP(rr, httptest.NewRequest("GET", "/healthz", nil))
		var h Health
		if err := json.NewDecoder(rr.Body).Decode(&h); err != nil {
			t.Fatalf("healthz body: %v", err)
		}
		return rr.Code, h
	}
	code, h := get()
	if code != http.StatusOK || h.Status != "ok" || h.NextRuns["daily"] != "2026-11-26T07:00:00Z" || h.LastRuns["daily"].Issue != 7 {
		t.Errorf("healthz = %d %+v", code, h)
	}
	st.Close()
	if code, h := get(); code != http.StatusServiceUnavailable || h.Status != "unavailable" {
		t.Errorf("healthz with the store closed = %d %+v, want 503", code, h)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	st := openStore(t)
	good := Options{Config: testConfig("@daily"), Store: st, Send: newRecorder().send("a"), Holder: "a"}
	bad := testConfig("not a schedule")
	tests := []struct {
		name string
		mod  func(o *Options)
	}{
		{"no config", func(o *Options) { o.Config = nil }},
		{"no store", func(o *Options) { o.Store = nil }},
		{"no send", func(o *Options) { o.Send = nil }},
		{"no holder", func(o *Options) { o.Holder = "" }},
		{"bad schedule", func(o *Options) { o.Config = bad }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.mod(&o)
			if _, err := New(o); err == nil || !strings.HasPrefix(err.Error(), "daemon: ") {
				t.Errorf("New: %v, want a daemon: error", err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestLeaderTasksRunOnlyWhileLeading(t *testing.T) {
	st := openStore(t)
	started := make(chan string, 4)
	var aRunning atomic.Bool
	task := func(holder string) func(context.Context) {
		return func(ctx context.Context) {
			if holder == "a" {
				aRunning.Store(true)
				defer aRunning.Store(false)
			}
			started <- holder
			<-ctx.Done()
		}
	}
	cfg := testConfig("@daily")
	newWithTask := func(holder string) *Daemon {
		d, err := New(Options{Config: cfg, Store: st, Send: newRecorder().send(holder), Holder: holder, LeaderTasks: []func(context.Context){task(holder)}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := newWithTask("a"), newWithTask("b")
	stopA := start(t, a)
	if h := <-started; h != "a" {
		t.Fatalf("task of %s started first", h)
	}
	start(t, b)
	waitFor(t, "b waiting", func() bool { return !b.Leader() })
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	if aRunning.Load() {
		t.Error("a's task still running after a stopped")
	}
	select {
	case h := <-started:
		if h != "b" {
			t.Errorf("task of %s started, want b's", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b's task did not start after a stopped")
	}
}

// TestUnfinishedIssueRetried: an issue left unfinished by temporary
// failures is resumed every retry interval, not only at the next slot.
func TestUnfinishedIssueRetried(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	if _, err := st.CreateIssue(ctx, store.Issue{Edition: "daily", Status: store.IssueSending, WindowTo: time.Now(), Created: time.Now()}, "daily"); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	rec.fn = func(ctx context.Context, n int, edition string, slot time.Time) (delivery.Summary, error) {
		// Still failing temporarily: the issue stays open.
		return delivery.Summary{Edition: edition, Issue: 1, Resumed: true, FailedTemporary: 1}, nil
	}
	cfg := testConfig("0 7 1 1 *") // far away: only catch-up and retries run
	cfg.Daemon.RetryInterval = 50 * time.Millisecond
	d := newDaemon(t, cfg, st, rec.send("a"), "a", nil, nil)
	stop := start(t, d)
	rec.next(t, 5*time.Second) // the start-up resume
	rec.next(t, 5*time.Second) // a retry
	rec.next(t, 5*time.Second) // and another
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
