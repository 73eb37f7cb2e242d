// Package testenv decides what a test does when the machine lacks something
// it needs from outside the repo (a browser, shared test data): on a
// developer's machine it skips and says what to install; in CI (CI=true) it
// fails, so that a broken CI setup can never turn tests into silent skips.
//
// Tests call Need for a program and Shared for the shared test data instead
// of skipping by themselves.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// InCI reports whether the tests run in CI: $CI is true (GitHub Actions,
// GitLab and most others set CI=true; .ci/run does too).
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Missing skips t, or fails it in CI, saying what is missing and how to get
// it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("missing in CI (CI=true), where every dependency must be there: %s", msg)
		return
	}
	t.Skipf("skipped: %s", msg)
}

// program says how to find a program a test needs and where it comes from.
type program struct {
	env   string   // a variable that names the binary, checked first
	names []string // names on $PATH
	from  string
}

var programs = map[string]program{
	"chromium": {
		env:   "DIGEST_CHROMIUM",
		names: []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"},
		from:  "the Debian package chromium, or set DIGEST_CHROMIUM",
	},
}

// Need returns the path of the program the test needs ("chromium", or any
// name on $PATH), or skips (fails in CI) when it is not installed.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, ok := programs[name]
	if !ok {
		p = program{names: []string{name}, from: "install it"}
	}
	if p.env != "" {
		if path := os.Getenv(p.env); path != "" {
			return path
		}
	}
	for _, n := range p.names {
		if path, err := exec.LookPath(n); err == nil {
			return path
		}
	}
	Missing(t, "%s is not installed (%s)", name, p.from)
	return ""
}

// Shared returns the path of rel inside the shared test data: the folder
// shared next to the repository (../shared from the repo root), or
// $DIGEST_SHARED. It skips (fails in CI) when rel is not there.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("DIGEST_SHARED")
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			Missing(t, "shared test data: %v", err)
			return ""
		}
		dir = filepath.Join(root, "..", "shared")
	}
	path := filepath.Join(dir, filepath.FromSlash(rel))
	if _, err := os.Stat(path); err != nil {
		Missing(t, "shared test data: %v (put the shared folder next to the repository, or set DIGEST_SHARED)", err)
		return ""
	}
	return path
}

// repoRoot is the folder of the go.mod above the working directory (go
// test runs each package in its own folder).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
