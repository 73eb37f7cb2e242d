package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skipf(f string, args ...any)  { r.skipped = f }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = f }

func TestMissingSkipsLocallyAndFailsInCI(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	Need(r, "no-such-program-for-digest-tests")
	if r.skipped == "" || r.failed != "" {
		t.Fatalf("without CI: skipped %q, failed %q; want a skip", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	Need(r, "no-such-program-for-digest-tests")
	if r.failed == "" || r.skipped != "" {
		t.Fatalf("with CI=true: skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
	r = &recorder{TB: t}
	Shared(r, "no/such/file")
	if r.failed == "" {
		t.Fatal("with CI=true a missing shared file did not fail")
	}
}

func TestFinds(t *testing.T) {
	t.Setenv("DIGEST_CHROMIUM", "/opt/chrome/chrome")
	if got := Need(t, "chromium"); got != "/opt/chrome/chrome" {
		t.Errorf("Need(chromium) = %q, want $DIGEST_CHROMIUM", got)
	}
	if got := Need(t, "go"); !strings.HasSuffix(got, "go") {
		t.Errorf("Need(go) = %q", got)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "testdata"), 0o755)
	os.WriteFile(filepath.Join(dir, "testdata", "x.txt"), nil, 0o644)
	t.Setenv("DIGEST_SHARED", dir)
	if got := Shared(t, "testdata/x.txt"); got != filepath.Join(dir, "testdata", "x.txt") {
		t.Errorf("Shared = %q", got)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testenv", "testenv.go")); err != nil {
		t.Errorf("repoRoot = %q: %v", root, err)
	}
}
