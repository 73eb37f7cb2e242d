package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/internal/testenv"
)

// healthz is the /healthz JSON as a monitor reads it: the field names
// here are the contract, not the Go struct's.
type healthz struct {
	Status    string `json:"status"`
	Leader    bool   `json:"leader"`
	Instance  string `json:"instance"`
	Scheduler *struct {
		Instance string    `json:"instance"`
		Expires  time.Time `json:"expires"`
		Expired  bool      `json:"expired"`
	} `json:"scheduler"`
	IsScheduler bool `json:"is_scheduler"`
}

func getHealthz(t *testing.T, url string) healthz {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthz
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("healthz body: %v", err)
	}
	if resp.StatusCode != http.StatusOK || h.Status != "ok" {
		t.Fatalf("healthz = %d %+v", resp.StatusCode, h)
	}
	return h
}

// schedulerIs checks what one instance's /healthz says about who schedules.
func schedulerIs(t *testing.T, who string, h healthz, instance, scheduler string, expired bool) {
	t.Helper()
	if h.Instance != instance {
		t.Errorf("%s: instance = %q, want %q", who, h.Instance, instance)
	}
	if h.Scheduler == nil {
		t.Errorf("%s: no scheduler, want %q", who, scheduler)
		return
	}
	if h.Scheduler.Instance != scheduler || h.Scheduler.Expired != expired || h.Scheduler.Expires.IsZero() {
		t.Errorf("%s: scheduler = %+v, want %q (expired %v)", who, *h.Scheduler, scheduler, expired)
	}
	if want := instance == scheduler && !expired; h.IsScheduler != want {
		t.Errorf("%s: is_scheduler = %v, want %v", who, h.IsScheduler, want)
	}
}

// Two daemons on one store (file or database), each with its own
// connection as two processes would have: both answer /healthz with the same scheduler, and
// each knows whether it is the one; when the scheduler stops, both say
// who took over.
func TestHealthSaysWhichInstanceSchedules(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts func(t *testing.T) store.Options
	}{
		{"sqlite", func(t *testing.T) store.Options {
			return store.Options{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "digest.db")}
		}},
		{"postgres", func(t *testing.T) store.Options {
			return store.Options{Driver: store.DriverPostgres, URL: testenv.Postgres(t)}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { testHealthSaysWhichInstanceSchedules(t, tt.opts(t)) })
	}
}

func testHealthSaysWhichInstanceSchedules(t *testing.T, o store.Options) {
	ctx := context.Background()
	open := func() *store.DB {
		st, err := store.OpenWith(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	stA, stB := open(), open()
	cfg := testConfig("@daily")
	const ia, ib = "web1:101:aaaa", "web2:202:bbbb"
	a := newDaemon(t, cfg, stA, newRecorder().send("a"), ia, nil, nil)
	b := newDaemon(t, cfg, stB, newRecorder().send("b"), ib, nil, nil)
	srvA, srvB := httptest.NewServer(a.HealthHandler()), httptest.NewServer(b.HealthHandler())
	defer srvA.Close()
	defer srvB.Close()

	if h := getHealthz(t, srvA.URL); h.Scheduler != nil || h.IsScheduler || h.Instance != ia {
		t.Errorf("nobody runs yet: %+v, want instance %s and no scheduler", h, ia)
	}
	// A scheduler that died an hour ago: named, expired, nobody's.
	if ok, err := stA.AcquireLease(ctx, LeaseName, "web9:9:dead", time.Second, time.Now().Add(-time.Hour)); err != nil || !ok {
		t.Fatalf("stale lease: %v %v", ok, err)
	}
	schedulerIs(t, "a before start", getHealthz(t, srvA.URL), ia, "web9:9:dead", true)

	stopA := start(t, a)
	waitFor(t, "a to lead", a.Leader)
	start(t, b)
	schedulerIs(t, "a", getHealthz(t, srvA.URL), ia, ia, false)
	schedulerIs(t, "b", getHealthz(t, srvB.URL), ib, ia, false)

	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to lead", b.Leader)
	schedulerIs(t, "b after a stopped", getHealthz(t, srvB.URL), ib, ib, false)
	schedulerIs(t, "a after it stopped", getHealthz(t, srvA.URL), ia, ib, false)
}
