package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
)

// archiveGet answers a GET through the handler digest serve would run.
func archiveGet(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// After a real send, the issue is on the web for everyone, with nothing of
// its readers; [archive] enabled = false takes the pages away; the export
// writes the same as files.
func TestArchiveAfterASend(t *testing.T) {
	e := newRunEnv(t)
	cfgPath := e.config("@daily", 2, "")
	e.subscribe(cfgPath, "ana.lima@example.org", "bo@example.org")
	e.articleAt("Harbour reopens after the storm", time.Now().Add(-time.Hour))
	e.articleAt("Library extends its opening hours", time.Now().Add(-time.Hour))
	e.cli(cfgPath, "send")
	runWaitMessages(t, e.srv, 2)

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st := e.store()
	h, err := webHandler(cfg, st, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	issue := e.issues()[0].ID
	page := fmt.Sprintf("https://news.example.org/archive/%d", issue)
	for _, m := range e.srv.Messages() {
		if got := m.Header.Get("List-Archive"); got != "<https://news.example.org/archive>" {
			t.Errorf("List-Archive = %q", got)
		}
		body := bodyText(t, m.Data)
		if !strings.Contains(body, `href="`+page+`"`) || !strings.Contains(body, "View in browser: "+page) {
			t.Errorf("the mail does not link to its issue page %s", page)
		}
	}
	for _, path := range []string{"/archive", fmt.Sprintf("/archive/%d", issue), "/archive/feed.atom", "/archive/feed.json"} {
		code, body := archiveGet(t, h, path)
		if code != 200 {
			t.Errorf("%s: status %d", path, code)
		}
		for _, want := range []string{"Harbour reopens after the storm", "Library extends its opening hours"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
		for _, personal := range []string{"ana.lima@example.org", "bo@example.org", "token="} {
			if strings.Contains(body, personal) {
				t.Errorf("%s shows %q", path, personal)
			}
		}
	}

	off := *cfg
	no := false
	off.Archive.Enabled = &no
	h, err = webHandler(&off, st, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/archive", fmt.Sprintf("/archive/%d", issue), "/archive/feed.atom"} {
		if code, _ := archiveGet(t, h, path); code != 404 {
			t.Errorf("archive disabled: %s answers %d", path, code)
		}
	}

	out := filepath.Join(e.dir, "site")
	if got := e.cli(cfgPath, "archive", "export", out); !strings.Contains(got, "wrote 1 issues") {
		t.Errorf("export said %q", got)
	}
	for _, name := range []string{"index.html", fmt.Sprintf("%d.html", issue), "feed.atom", "feed.json"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}

// [archive] enabled = false takes the links out of the mail too.
func TestArchiveOffNoLinksInMail(t *testing.T) {
	e := newRunEnv(t)
	cfgPath := e.config("@daily", 1, "\n[archive]\nenabled = false\n")
	e.subscribe(cfgPath, "ana.lima@example.org")
	e.articleAt("Harbour reopens after the storm", time.Now().Add(-time.Hour))
	e.cli(cfgPath, "send")
	runWaitMessages(t, e.srv, 1)
	m := e.srv.Messages()[0]
	if got := m.Header.Get("List-Archive"); got != "" {
		t.Errorf("List-Archive = %q with the archive off", got)
	}
	if body := bodyText(t, m.Data); strings.Contains(body, "/archive") || strings.Contains(body, "View in browser") {
		t.Error("the mail links to the archive while it is off")
	}
}
