package subscribers

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/internal/testenv"
)

// twoHandles opens one store of the backend twice, as two processes
// would: one SQLite file, or one PostgreSQL database.
func twoHandles(t *testing.T, driver string) (a, b *store.DB, path string) {
	t.Helper()
	o := store.Options{Driver: driver}
	if driver == store.DriverPostgres {
		o.URL = testenv.Postgres(t)
	} else {
		o.Path = filepath.Join(t.TempDir(), "digest.db")
	}
	open := func() *store.DB {
		db, err := store.OpenWith(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return open(), open(), o.Path
}

// TestThrottleAcrossInstances: two web instances on one store (behind a
// load balancer, in effect) together let one client sign up RatePerIP
// times per window, not twice that; IPv6 clients count by /64 there too.
func TestThrottleAcrossInstances(t *testing.T) {
	for _, driver := range []string{store.DriverSQLite, store.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			const limit = 4
			tweak := func(o *ServiceOptions) { o.Server.RatePerIP = limit; o.Server.TrustProxy = true }
			dbA, dbB, _ := twoHandles(t, driver)
			envs := []*webEnv{newWebEnvOn(t, dbA, tweak), newWebEnvOn(t, dbB, tweak)}
			post := func(i int, ip string) webResponse {
				t.Helper()
				form := url.Values{"email": {fmt.Sprintf("s%d-%s@example.org", i, strings.NewReplacer(":", "", ".", "").Replace(ip))}}
				return envs[i%2].post("/subscribe", form, "X-Forwarded-For", ip)
			}
			clients := [][]string{
				{"203.0.113.7"},
				// One /64, a different host on each instance.
				{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
			}
			for _, ips := range clients {
				ok := 0
				for i := range 3 * limit {
					r := post(i, ips[i%len(ips)])
					switch r.code {
					case http.StatusOK:
						ok++
					case http.StatusTooManyRequests:
						if r.header.Get("Retry-After") == "" {
							t.Fatalf("%v: 429 without Retry-After", ips)
						}
					default:
						t.Fatalf("%v post %d: %d", ips, i, r.code)
					}
				}
				if ok != limit {
					t.Fatalf("%v: %d sign-ups let through by two instances, want %d", ips, ok, limit)
				}
			}
			// Another /64 is another client.
			if r := post(1, "2001:db8:1:3::1"); r.code != http.StatusOK {
				t.Fatalf("neighbouring /64 throttled: %d", r.code)
			}
			// A new window, on both instances' clocks: the client may
			// sign up again, through either instance.
			for _, e := range envs {
				e.clock.Add(time.Minute)
			}
			for i := range 2 {
				if r := post(i, "203.0.113.7"); r.code != http.StatusOK {
					t.Fatalf("instance %d in the next window: %d", i, r.code)
				}
			}
		})
	}
}

// lockedBuffer collects log output written by the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestThrottleFailsOpen: when the throttle's statement fails (its table
// is gone) and the rest of the store works, sign-ups go through with a
// warning, known and unknown addresses alike, instead of a 500 or a 429.
func TestThrottleFailsOpen(t *testing.T) {
	db, _, path := twoHandles(t, store.DriverSQLite)
	var logs lockedBuffer
	e := newWebEnvOn(t, db, func(o *ServiceOptions) {
		o.Server.RatePerIP = 1
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	e.confirmed("known@example.org") // the client's one sign-up of this window
	if r := e.post("/subscribe", subscribeForm("refused@example.org")); r.code != http.StatusTooManyRequests {
		t.Fatalf("second sign-up with the throttle working: %d, want 429", r.code)
	}
	e.clock.Add(time.Minute) // out of the refusal the instance remembers

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("DROP TABLE rate_windows"); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, email := range []string{"known@example.org", "new1@example.org", "new2@example.org"} {
		r := e.post("/subscribe", subscribeForm(email))
		if r.code != http.StatusOK {
			t.Fatalf("%s with the throttle failing: %d", email, r.code)
		}
		bodies = append(bodies, r.body)
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatal("known and unknown addresses answered differently")
	}
	if n := strings.Count(logs.String(), "subscribe throttle: store failed"); n != 3 {
		t.Fatalf("%d throttle warnings logged, want 3:\n%s", n, logs.String())
	}
	if e.subscriber("new2@example.org").Status != store.StatusPending {
		t.Fatal("sign-up not recorded")
	}
}

// countingWindows counts the store writes the throttle makes.
type countingWindows struct {
	RateWindows
	hits, prunes atomic.Int64
}

func (c *countingWindows) HitRateWindow(ctx context.Context, key string, now time.Time, window time.Duration) (int64, time.Time, error) {
	c.hits.Add(1)
	return c.RateWindows.HitRateWindow(ctx, key, now, window)
}

func (c *countingWindows) PruneRateWindows(ctx context.Context, now time.Time) (int64, error) {
	c.prunes.Add(1)
	return c.RateWindows.PruneRateWindows(ctx, now)
}

// TestThrottleRefusedBounded: a refused client costs no store write until
// its window ends, and the memory of refusals stays within its bound; a
// forgotten refusal is asked of the store again and still refused.
func TestThrottleRefusedBounded(t *testing.T) {
	ctx := context.Background()
	db, _, _ := twoHandles(t, store.DriverSQLite)
	st := &countingWindows{RateWindows: db}
	th := newThrottle(st, 2, time.Minute, 3, slog.New(slog.DiscardHandler))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	for i := range 2 {
		if ok, _ := th.allow(ctx, "a", now); !ok {
			t.Fatalf("event %d refused", i+1)
		}
	}
	for i := range 10 {
		at := now.Add(time.Duration(i+1) * time.Second)
		if ok, retry := th.allow(ctx, "a", at); ok || retry != time.Minute-time.Duration(i+1)*time.Second {
			t.Fatalf("event %d: ok=%v retry=%v", i+3, ok, retry)
		}
	}
	if n := st.hits.Load(); n != 3 {
		t.Fatalf("%d store hits for 12 events, want 3: refusals must be remembered", n)
	}
	if ok, _ := th.allow(ctx, "a", now.Add(time.Minute)); !ok {
		t.Fatal("refused after the window ended")
	}

	for k := range 10 {
		key := fmt.Sprint("flood", k)
		for range 3 {
			th.allow(ctx, key, now)
		}
	}
	if n := th.refused.Len(); n > 3 {
		t.Fatalf("%d refusals remembered, over the bound of 3", n)
	}
	before := st.hits.Load()
	if ok, _ := th.allow(ctx, "flood0", now); ok {
		t.Fatal("a forgotten refusal let the client through")
	}
	if st.hits.Load() != before+1 {
		t.Fatal("a forgotten refusal was not asked of the store")
	}
}

// TestThrottlePrunes: under a flood of distinct clients the throttle
// prunes ended windows every pruneEvery hits, so the table holds the
// clients of one window and at most pruneEvery more.
func TestThrottlePrunes(t *testing.T) {
	ctx := context.Background()
	db, _, path := twoHandles(t, store.DriverSQLite)
	st := &countingWindows{RateWindows: db}
	th := newThrottle(st, 10, time.Minute, 100, slog.New(slog.DiscardHandler))
	th.pruneEvery = 50
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const perSecond, clients = 5, 900 // 300 clients in a window
	start, most := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0
	for i := range clients {
		ip := fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
		if ok, _ := th.allow(ctx, throttleKey(ip), start.Add(time.Duration(i)*time.Second/perSecond)); !ok {
			t.Fatalf("client %d refused", i)
		}
		var n int
		if err := raw.QueryRow("SELECT count(*) FROM rate_windows").Scan(&n); err != nil {
			t.Fatal(err)
		}
		most = max(most, n)
	}
	if want := int64(clients / 50); st.prunes.Load() != want {
		t.Fatalf("%d prunes, want %d", st.prunes.Load(), want)
	}
	if bound := 60*perSecond + 50; most > bound {
		t.Fatalf("table reached %d rows, over %d", most, bound)
	}
}
