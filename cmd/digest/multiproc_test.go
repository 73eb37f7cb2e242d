package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/internal/testenv"
)

// backends are the stores the tests with several real digest processes
// run on: one file shared by processes on one machine, and one database
// shared by processes that could be on several.
var backends = []string{store.DriverSQLite, store.DriverPostgres}

// testURLEnv is the variable the config's url_env names in these tests.
const testURLEnv = "DIGEST_TEST_DATABASE_URL"

// storeFor gives the [store] section and the store's options for backend:
// a file in dir, or a fresh database on the test server whose URL the
// children read from testURLEnv (set for the test).
func storeFor(t *testing.T, backend, dir string) (string, store.Options) {
	t.Helper()
	switch backend {
	case store.DriverSQLite:
		path := filepath.Join(dir, "digest.db")
		return fmt.Sprintf("[store]\npath = %q\n", path), store.Options{Driver: backend, Path: path}
	case store.DriverPostgres:
		url := testenv.Postgres(t)
		t.Setenv(testURLEnv, url)
		return fmt.Sprintf("[store]\ndriver = \"postgres\"\nurl_env = %q\n", testURLEnv), store.Options{Driver: backend, URL: url}
	}
	t.Fatalf("unknown backend %q", backend)
	return "", store.Options{}
}

// TestTwoSendsStartedTogether: an overlapping cron job. Two processes
// started at once make one issue and send each reader one copy.
func TestTwoSendsStartedTogether(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			const n = 1500
			e := newSendEnvOn(t, backend, "", smtptest.WithDelay(2*time.Millisecond))
			e.subscribe(n)
			a := e.start("send", "--no-progress", "--json")
			b := e.start("send", "--no-progress", "--json")
			for _, p := range []*proc{a, b} {
				if code := p.wait(t); code != 0 {
					t.Fatalf("exit %d\n%s", code, p.stderr.String())
				}
			}
			e.exactlyOnce(n)
			if is := e.issues(); len(is) != 1 || is[0].Status != store.IssueDone {
				t.Fatalf("issues %+v, want one, finished", is)
			}
			var sa, sb struct{ Sent int }
			json.Unmarshal(a.stdout.Bytes(), &sa)
			json.Unmarshal(b.stdout.Bytes(), &sb)
			t.Logf("the two sends sent %d and %d", sa.Sent, sb.Sent)
		})
	}
}

// TestSecondSendWhileTheFirstSends: a second send started while the first
// is a third of the way through joins the same issue.
func TestSecondSendWhileTheFirstSends(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			const n = 1500
			e := newSendEnvOn(t, backend, "", smtptest.WithDelay(2*time.Millisecond))
			e.subscribe(n)
			a := e.start("send", "--no-progress")
			e.waitMessages(n / 3)
			b := e.start("send", "--no-progress")
			for _, p := range []*proc{b, a} {
				if code := p.wait(t); code != 0 {
					t.Fatalf("exit %d\n%s", code, p.stderr.String())
				}
			}
			if !strings.Contains(b.stdout.String(), "Resumed issue 1") {
				t.Errorf("the second send did not join issue 1:\n%s", b.stdout.String())
			}
			e.exactlyOnce(n)
			if is := e.issues(); len(is) != 1 {
				t.Fatalf("%d issues, want 1", len(is))
			}
		})
	}
}

// TestKillOneOfTwoSenders: of two processes sending one issue, one is
// killed with SIGKILL while both send. The other takes over its claims
// once they expire (claim_ttl 2s) and finishes the issue: nobody is lost,
// and only what the killed one had in flight (its connections plus a group
// of unwritten marks) goes twice.
func TestKillOneOfTwoSenders(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			const n = 1500
			e := newSendEnvOn(t, backend, "", smtptest.WithDelay(2*time.Millisecond))
			e.subscribe(n)
			a := e.start("send", "--no-progress")
			e.waitMessages(n / 6)
			// a's connections are open by now: a message on a later one is
			// b's, so b has joined and both are sending.
			aConns := e.srv.Connections()
			b := e.start("send", "--no-progress", "--json")
			e.waitMessageOnConnAfter(aConns)
			if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-a.done
			atKill := e.srv.Len()
			if atKill >= n {
				t.Fatalf("the issue was sent (%d messages) before the kill; slow the server down", atKill)
			}
			if code := b.wait(t); code != 0 {
				t.Fatalf("the surviving send: exit %d\n%s", code, b.stderr.String())
			}
			var sum struct {
				State   string
				Sent    int
				Resumed bool
			}
			if err := json.Unmarshal(b.stdout.Bytes(), &sum); err != nil || !sum.Resumed || sum.State != delivery.StateDone {
				t.Fatalf("the surviving send: %v, %+v: want it to have joined the issue and finished it\n%s", err, sum, b.stdout.String())
			}
			dups := 0
			for i := range n {
				c := e.srv.Count(addr(i))
				if c == 0 {
					t.Fatalf("%s got nothing: lost with the killed sender", addr(i))
				}
				dups += c - 1
			}
			t.Logf("killed one sender after %d of %d messages; the other sent %d; %d sent twice", atKill, n, sum.Sent, dups)
			if bound := delivery.MaxInFlight(4, 8); dups > bound {
				t.Fatalf("%d duplicates, more than the killed sender's %d in flight (smtp.concurrency 4 + mark_batch 8)", dups, bound)
			}
			if is := e.issues(); len(is) != 1 || is[0].Status != store.IssueDone {
				t.Fatalf("issues %+v, want one, finished", is)
			}
		})
	}
}

// waitMessageOnConnAfter waits until the server accepts a message on a
// connection numbered above conn.
func (e *sendEnv) waitMessageOnConnAfter(conn int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for seen := 0; ; seen++ {
		if err := e.srv.WaitFor(ctx, seen+1); err != nil {
			e.t.Fatalf("no message on a connection after the first %d: %v", conn, err)
		}
		if e.srv.Messages()[seen].ConnID > conn {
			return
		}
	}
}
