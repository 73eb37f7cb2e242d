package main

import (
	"database/sql"
	"mime"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// storeCounts counts the rows a send writes, straight from the file.
func storeCounts(t *testing.T, path string) [4]int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n [4]int
	for i, table := range []string{"issues", "deliveries", "seen_articles", "feed_state"} {
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n[i]); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
	}
	return n
}

// A test send reaches the given addresses with the current digest and
// leaves the store as it was: no issue, no ledger row, nothing seen. The
// next real send still carries the articles the test showed.
func TestSendTestTouchesNothing(t *testing.T) {
	e := newRunEnv(t)
	cfg := e.config("@daily", 1, "")
	e.subscribe(cfg, "reader@example.org")
	e.articleAt("Old harbour story", time.Now().Add(-2*time.Hour))
	e.cli(cfg, "send")
	runWaitMessages(t, e.srv, 1)

	e.articleAt("New library hours", time.Now().Add(-time.Minute))
	before := storeCounts(t, e.db)
	out := e.cli(cfg, "send", "--test", "--to", "editor@example.org,chief@example.org")
	if !strings.Contains(out, "Test sent") {
		t.Errorf("output: %s", out)
	}
	runWaitMessages(t, e.srv, 3)
	if after := storeCounts(t, e.db); after != before {
		t.Fatalf("issues, deliveries, seen articles, feed state: %v before, %v after a test send", before, after)
	}
	for _, m := range e.srv.Messages()[1:] {
		subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(subj, "[TEST] ") {
			t.Errorf("subject %q lacks [TEST]", subj)
		}
		body := bodyText(t, m.Data)
		if !strings.Contains(body, "New library hours") || strings.Contains(body, "Old harbour story") {
			t.Error("the test does not carry (only) what the next issue would")
		}
		if !strings.Contains(body, "Sample Reader") || strings.Contains(body, "reader@example.org") {
			t.Error("the test is not rendered for a sample subscriber")
		}
	}
	if e.srv.Count("editor@example.org") != 1 || e.srv.Count("chief@example.org") != 1 || e.srv.Count("reader@example.org") != 1 {
		t.Error("the test went to someone else than the --to addresses")
	}

	// The real send after it still has the new article.
	e.cli(cfg, "send")
	runWaitMessages(t, e.srv, 4)
	if last := bodyText(t, e.srv.Messages()[3].Data); !strings.Contains(last, "New library hours") {
		t.Error("the article shown in the test was marked seen")
	}

	for _, args := range [][]string{{"send", "--test"}, {"send", "--to", "a@example.org"}, {"send", "--test", "--to", "not an address"}} {
		code, _, _ := runCLI(t, append(args, "--config", cfg)...)
		if code != 2 {
			t.Errorf("digest %v: exit %d, want 2", args, code)
		}
	}
}
