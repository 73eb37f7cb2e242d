package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

// TestUnitlessTimeoutIsRefused: `[smtp] timeout = 30` was read as 30ns:
// every dial timed out, the summary said "failed 0" and send exited 0. Now
// the config is refused before anything runs, naming the key and line.
func TestUnitlessTimeoutIsRefused(t *testing.T) {
	srv := smtptest.Start(t)
	dir := t.TempDir()
	path := writeConfig(t, dir, srv, "")
	data, _ := os.ReadFile(path)
	src := strings.Replace(string(data), "concurrency = 4\n", "concurrency = 4\ntimeout = 30\n", 1)
	line := strings.Count(src[:strings.Index(src, "timeout = 30")], "\n") + 1
	os.WriteFile(path, []byte(src), 0o644)
	t.Setenv("DIGEST_SECRET", strings.Repeat("k", 32))

	code, stdout, stderr := runCLI(t, "send", "--config", path)
	want := filepath.Base(path) + ":" + strconv.Itoa(line) + `: smtp.timeout: 30 has no unit: write a string with one, such as "30s"`
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q; want 1 and %q\n%s", code, stderr, want, stdout)
	}
	if n := srv.Connections(); n != 0 {
		t.Fatalf("%d SMTP connections with a refused config", n)
	}
}

// TestConfigCheckReportsEveryProblem: one run lists every problem (type,
// duration, cron, a missing folder, a short secret), each with its line.
func TestConfigCheckReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	os.WriteFile(path, []byte(`[newsletter]
from = "Brief <brief@example.org>"
base_url = "https://news.example.org"
[[editions]]
name = "daily"
schedule = "0 x * * *"
[[sources]]
name = "notes"
path = "no-such-folder"
[smtp]
timeout = 30
port = "25"
[server]
secret_env = "TEST_DIGEST_SHORT_SECRET"
`), 0o644)
	t.Setenv("TEST_DIGEST_SHORT_SECRET", "short")
	code, _, stderr := runCLI(t, "config", "check", "--config", path)
	if code != 1 || strings.Count(stderr, "\n") != 5 || strings.Count(stderr, "digest: config: ") != 5 {
		t.Fatalf("exit %d, want 1 and 5 problems, one a line:\n%s", code, stderr)
	}
	want := []string{
		`c.toml:6: editions[0].schedule: hour field "x": "x" is not a number in 0-23`,
		`c.toml:9: sources[0].path: article folder`,
		`c.toml:11: smtp.timeout: 30 has no unit`,
		`c.toml:12: smtp.port: must be a whole number, not a string ("25")`,
		`c.toml:14: server.secret_env: TEST_DIGEST_SHORT_SECRET: links: token key must be at least 16 bytes, got 5`,
	}
	last := -1
	for _, w := range want {
		i := strings.Index(stderr, w)
		if i < 0 || i < last {
			t.Errorf("stderr lacks %q (or out of order):\n%s", w, stderr)
		}
		last = i
	}
	if strings.Contains(stderr, "strconv") {
		t.Errorf("stderr leaks strconv:\n%s", stderr)
	}
}

func TestConfigCheckSecret(t *testing.T) {
	t.Setenv("DIGEST_SECRET", "")
	code, stdout, stderr := runCLI(t, "config", "check", "--config", exampleConfig)
	if code != 0 || !strings.Contains(stderr, "warning: config: ") || !strings.Contains(stderr, "server.secret_env: DIGEST_SECRET is not set") || !strings.Contains(stdout, ": ok (") {
		t.Fatalf("no secret: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Setenv("DIGEST_SECRET", strings.Repeat("k", 32))
	code, stdout, stderr = runCLI(t, "config", "check", "--config", exampleConfig)
	if code != 0 || stderr != "" || !strings.Contains(stdout, `edition "weekly"`) {
		t.Fatalf("good secret: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestUnknownCommandOrEdition(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"command", []string{"bogus"}, []string{`unknown command "bogus" for "digest"`, "send", "subscribers", "version"}},
		{"typo", []string{"sned"}, []string{`did you mean "send"?`}},
		{"subcommand", []string{"subscribers", "bogus"}, []string{`unknown command "bogus" for "digest subscribers"`, "add", "import"}},
		{"config subcommand", []string{"config", "chek"}, []string{`did you mean "check"?`}},
		{"send edition", []string{"send", "--dry-run", "--edition", "monthly", "--config", exampleConfig}, []string{`--edition: no edition "monthly"`, "(editions: weekly, daily)"}},
		{"collect edition", []string{"collect", "--edition", "monthly", "--config", exampleConfig}, []string{`no edition "monthly"`, "weekly, daily"}},
		{"subscribers edition", []string{"subscribers", "list", "--edition", "monthly", "--config", exampleConfig}, []string{`no edition "monthly"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	}
	if code, stdout, _ := runCLI(t, "subscribers"); code != 0 || !strings.Contains(stdout, "Available Commands") {
		t.Errorf("a command group alone: exit %d, want 0 and its help\n%s", code, stdout)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || !strings.HasPrefix(stdout, "digest ") || !strings.Contains(stdout, "(commit ") || !strings.Contains(stdout, runtime.Version()) {
			t.Errorf("%v: exit %d, %q %q", args, code, stdout, stderr)
		}
	}
	// A release build sets version and commit with -ldflags -X.
	bin := filepath.Join(t.TempDir(), "digest")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7 -X main.commit=0123abc", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if want := "digest v9.8.7 (commit 0123abc, " + runtime.Version(); err != nil || !strings.HasPrefix(string(out), want) {
		t.Fatalf("built binary says %q (%v), want %q…", out, err, want)
	}
}
