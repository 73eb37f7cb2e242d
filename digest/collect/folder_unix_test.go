//go:build unix

package collect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
)

// TestFolderFIFO: a named pipe in an article folder used to hang collect
// and send forever, past the timeout and SIGTERM. It is now reported by
// name, never opened for reading, and the folder's other files are read.
func TestFolderFIFO(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "good.md", "# Good note\n\nBody.\n")
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.md"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan Result, 1)
	go func() {
		done <- Collect(context.Background(), []config.Source{{Name: "Notes", Path: dir, Timeout: time.Minute}}, Options{})
	}()
	var res Result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("collect blocked on a named pipe")
	}
	if len(res.Articles) != 1 || res.Articles[0].Title != "Good note" {
		t.Errorf("articles: %+v", res.Articles)
	}
	if got := errorFor(res, "Notes: pipe.md"); !strings.Contains(got, "named pipe") {
		t.Errorf("pipe error %q (all: %v)", got, res.Errors)
	}
}

// TestFolderSymlinks: a link to a file outside the folder (here a secret
// next to it, standing for /etc/shadow) is not read; a link that stays
// inside the folder is.
func TestFolderSymlinks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "articles")
	writeFile(t, base, "shadow", "root:SECRET-HASH:19000:0:99999:7:::\n")
	writeFile(t, dir, "2025/real.md", "# Inside\n\nThe real note.\n")
	for link, target := range map[string]string{
		"leak.md":     filepath.Join(base, "shadow"),
		"leak2.txt":   "../shadow",
		"inside.md":   "2025/real.md",
		"dangling.md": "nowhere.md",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	res := Collect(t.Context(), []config.Source{{Name: "Notes", Path: dir}}, Options{})
	for _, a := range res.Articles {
		if strings.Contains(a.Title+a.Summary+a.Body.String(), "SECRET") {
			t.Fatalf("a file outside the folder was read: %+v", a)
		}
	}
	if len(res.Articles) != 2 {
		t.Errorf("got %d articles, want the note and the link to it", len(res.Articles))
	}
	for _, name := range []string{"leak.md", "leak2.txt"} {
		if got := errorFor(res, "Notes: "+name); !strings.Contains(got, "outside the folder") {
			t.Errorf("%s: error %q", name, got)
		}
	}
	if got := errorFor(res, "Notes: dangling.md"); got == "" {
		t.Errorf("dangling link not reported: %v", res.Errors)
	}
}
