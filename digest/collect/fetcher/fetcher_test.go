package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hits counts the requests a test server answered.
type hits struct {
	mu    sync.Mutex
	times []time.Time
}

func (h *hits) add() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.times = append(h.times, time.Now())
}

func (h *hits) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.times)
}

// intranet is a server standing for a private host: it answers with a
// secret and counts who asked.
func intranet(t *testing.T) (*httptest.Server, *hits) {
	h := &hits{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.add()
		fmt.Fprint(w, "<rss><channel><title>secret</title></channel></rss>")
	}))
	t.Cleanup(srv.Close)
	return srv, h
}

// publicOnly returns a classifier under which the given servers play
// public hosts: all tests run on loopback, which is private.
func publicOnly(servers ...*httptest.Server) func(netip.AddrPort) bool {
	public := map[netip.AddrPort]bool{}
	for _, s := range servers {
		u, _ := url.Parse(s.URL)
		public[netip.MustParseAddrPort(u.Host)] = true
	}
	return func(ap netip.AddrPort) bool { return public[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] }
}

func redirector(t *testing.T, to string) *httptest.Server {
	srv := httptest.NewServer(http.RedirectHandler(to, http.StatusFound))
	t.Cleanup(srv.Close)
	return srv
}

// TestRedirectToPrivateRefused: a public feed that redirects to a private
// address is refused, by IP literal and by a name that resolves to one
// (the check runs on the address dialled, after DNS), and the private
// server never sees the request.
func TestRedirectToPrivateRefused(t *testing.T) {
	secret, seen := intranet(t)
	port := strings.TrimPrefix(secret.URL, "http://127.0.0.1:")
	for _, target := range []string{secret.URL + "/admin", "http://localhost:" + port + "/admin"} {
		t.Run(target, func(t *testing.T) {
			pub := redirector(t, target)
			f := New(Options{public: publicOnly(pub)})
			_, err := f.Get(t.Context(), pub.URL+"/feed.xml", 0)
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("err = %v, want a RefusedError", err)
			}
			if !refused.Addr.Addr().IsLoopback() || !strings.Contains(err.Error(), "private address") {
				t.Errorf("error %q does not name the private address", err)
			}
		})
	}
	if n := seen.count(); n != 0 {
		t.Errorf("the private server answered %d requests", n)
	}
}

// TestPrivateConnectionNotReused: a connection opened for a configured
// private feed is never lent to a public feed's redirect.
func TestPrivateConnectionNotReused(t *testing.T) {
	secret, seen := intranet(t)
	pub := redirector(t, secret.URL+"/admin")
	f := New(Options{public: publicOnly(pub)})
	if _, err := f.Get(t.Context(), secret.URL+"/feed.xml", 0); err != nil {
		t.Fatalf("configured private feed: %v", err)
	}
	if _, err := f.Get(t.Context(), pub.URL+"/feed.xml", 0); err == nil {
		t.Fatal("public feed reached the private server over a pooled connection")
	}
	if n := seen.count(); n != 1 {
		t.Errorf("private server answered %d requests, want only the configured one", n)
	}
}

// TestConfiguredPrivateAllowed: a feed the operator configured at a
// private address, numbered or named, is fetched, redirects included.
func TestConfiguredPrivateAllowed(t *testing.T) {
	secret, seen := intranet(t)
	port := strings.TrimPrefix(secret.URL, "http://127.0.0.1:")
	inner := redirector(t, secret.URL+"/moved")
	for _, u := range []string{secret.URL + "/feed.xml", "http://localhost:" + port + "/feed.xml", inner.URL + "/old"} {
		f := New(Options{})
		doc, err := f.Get(t.Context(), u, 0)
		if err != nil || !strings.Contains(string(doc.Body), "secret") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if n := seen.count(); n != 3 {
		t.Errorf("private server answered %d requests, want 3", n)
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "::1": false, "fe80::1": false, "fd00::1": false, "::ffff:127.0.0.1": false,
		"224.0.0.1": false, "64:ff9b::a00:1": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestRetryAfter: a 429 with Retry-After is waited out and retried once;
// the wait holds for the host's other feeds too.
func TestRetryAfter(t *testing.T) {
	h := &hits{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.add()
		if h.count() == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, "<rss/>")
	}))
	defer srv.Close()
	f := New(Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := f.Get(ctx, srv.URL+"/a.xml", 0); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	if h.count() != 2 {
		t.Fatalf("%d requests, want 2", h.count())
	}
	if gap := h.times[1].Sub(h.times[0]); gap < time.Second {
		t.Errorf("retried %v after a Retry-After of 1s", gap)
	}
}

// TestRetryAfterTooLong: a wait the deadline cannot hold fails at once,
// naming the wait, and the host is not asked again in the same run.
func TestRetryAfterTooLong(t *testing.T) {
	h := &hits{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.add()
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := New(Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := f.Get(ctx, srv.URL+"/a.xml", 0)
	var st *StatusError
	if !errors.As(err, &st) || st.RetryAfter != 2*time.Minute || !strings.Contains(err.Error(), "retry after 2m0s") {
		t.Fatalf("err = %v", err)
	}
	_, err = f.Get(ctx, srv.URL+"/b.xml", 0)
	if err == nil || !strings.Contains(err.Error(), "asked not to be fetched again before") {
		t.Errorf("second feed on the host: %v", err)
	}
	if h.count() != 1 {
		t.Errorf("host asked %d times, want 1", h.count())
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "30": 30 * time.Second, "junk": 0,
		"Thu, 01 Jan 2026 12:02:00 GMT": 2 * time.Minute, "Thu, 01 Jan 2026 11:00:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestReadFileLimits(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.xml")
	if err := os.WriteFile(p, make([]byte, 200<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadFile(t.Context(), p, 100<<10); !strings.Contains(fmt.Sprint(err), "max_bytes (102400 bytes)") {
		t.Errorf("over the cap: %v", err)
	}
	data, _, err := ReadFile(t.Context(), p, 0)
	if err != nil || len(data) != 200<<10 {
		t.Errorf("read %d bytes, %v", len(data), err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := ReadFile(ctx, p, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	if _, _, err := ReadFile(t.Context(), dir, 0); !strings.Contains(fmt.Sprint(err), "a folder, not a file") {
		t.Errorf("folder: %v", err)
	}
	link := filepath.Join(dir, "link.xml")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadFileNoFollow(t.Context(), link, 0); err == nil {
		t.Error("ReadFileNoFollow followed a symbolic link")
	}
}
