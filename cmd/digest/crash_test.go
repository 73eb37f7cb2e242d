package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/internal/smtptest"
)

// binDir holds the digest binary the process tests share; TestMain
// removes it.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary compiles the digest command once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "digest-test-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "digest")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// writeConfig writes a config that sends the bundled examples to srv, with
// the store in dir/digest.db.
func writeConfig(t *testing.T, dir string, srv *smtptest.Server, extra string) string {
	t.Helper()
	return writeConfigStore(t, dir, srv, fmt.Sprintf("[store]\npath = %q\n", filepath.Join(dir, "digest.db")), extra)
}

// writeConfigStore is writeConfig with storeSection as the [store] section.
func writeConfigStore(t *testing.T, dir string, srv *smtptest.Server, storeSection, extra string) string {
	t.Helper()
	articles, err := filepath.Abs("../../examples/articles")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
[newsletter]
title = "Crash Brief"
from = "Crash Brief <brief@example.org>"
base_url = "https://news.example.org"
window = "87600h"
[[editions]]
name = "weekly"
schedule = "@weekly"
[[sources]]
name = "Local notes"
path = %q
[smtp]
host = %q
port = %d
tls = "none"
concurrency = 4
%s%s`, articles, srv.Host, srv.Port, storeSection, extra)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCrashMidSendResumes kills the real binary with SIGKILL in the middle
// of a send, runs it again, and counts at the server: every recipient gets
// the issue, and at most the messages in flight at the kill go twice.
func TestCrashMidSendResumes(t *testing.T) {
	bin := buildBinary(t)
	const n = 400
	srv := smtptest.Start(t, smtptest.WithDelay(3*time.Millisecond))
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, srv, "[delivery]\nclaim_ttl = \"2s\"\nmark_batch = 8\n")

	var csv strings.Builder
	csv.WriteString("email,name\n")
	for i := range n {
		fmt.Fprintf(&csv, "reader%04d@example.net,Reader %d\n", i, i)
	}
	csvPath := filepath.Join(dir, "list.csv")
	os.WriteFile(csvPath, []byte(csv.String()), 0o644)

	env := append(os.Environ(), "DIGEST_SECRET=crash-test-secret-0123456789")
	runBin := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, append([]string{"--config", cfgPath}, args...)...)
		c.Env = env
		return c
	}
	if out, err := runBin("subscribers", "import", csvPath).CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	first := runBin("send", "--no-progress")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.WaitFor(ctx, n/4); err != nil {
		first.Process.Kill()
		t.Fatalf("first send never got going: %v", err)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	atKill := srv.Len()
	if atKill >= n {
		t.Fatalf("the send finished (%d messages) before the kill; slow the server down", atKill)
	}

	if out, err := runBin("send", "--no-progress").CombinedOutput(); err != nil {
		t.Fatalf("second send: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "Resumed") {
		t.Fatalf("second send did not resume:\n%s", out)
	}
	dups := 0
	for i := range n {
		c := srv.Count(fmt.Sprintf("reader%04d@example.net", i))
		if c == 0 {
			t.Fatalf("reader%04d got nothing after the resume", i)
		}
		dups += c - 1
	}
	t.Logf("killed after %d of %d messages; %d sent twice", atKill, n, dups)
	if bound := delivery.MaxInFlight(4, 8); dups > bound {
		t.Fatalf("%d duplicates, more than the %d in flight (4 connections, mark_batch 8)", dups, bound)
	}
	// And a third send has nothing new: it sends nothing.
	before := srv.Len()
	if out, err := runBin("send", "--no-progress").CombinedOutput(); err != nil || srv.Len() != before {
		t.Fatalf("third send: %v, %d new messages\n%s", err, srv.Len()-before, out)
	}
}
