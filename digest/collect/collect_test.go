package collect

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/config"
)

var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// rssDoc is a small valid RSS feed with n items.
func rssDoc(title string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>%s</title><link>https://site.example/</link>`, title)
	for i := range n {
		fmt.Fprintf(&b, `<item><title>%s item %d</title><link>/posts/%d</link><guid>%s-%d</guid><pubDate>Mon, 23 Nov 2026 10:%02d:00 GMT</pubDate><description>Text of item %d.</description></item>`,
			title, i, i, title, i, i%60, i)
	}
	b.WriteString(`</channel></rss>`)
	return b.String()
}

// memState is a FeedState in memory.
type memState struct {
	mu    sync.Mutex
	state map[string][2]string
	panic string // URL whose lookup panics
}

func (m *memState) FeedState(_ context.Context, url string) (string, string, error) {
	if url == m.panic {
		panic("state exploded")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state[url]
	return s[0], s[1], nil
}

func (m *memState) SetFeedState(_ context.Context, url, etag, lm string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == nil {
		m.state = map[string][2]string{}
	}
	m.state[url] = [2]string{etag, lm}
	return nil
}

type testServer struct {
	*httptest.Server
	mu     sync.Mutex
	agents []string
	inm    []string // If-None-Match headers seen on /etag
}

func newTestServer(t *testing.T) *testServer {
	ts := &testServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.agents = append(ts.agents, r.UserAgent())
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, rssDoc("Good", 3))
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/truncated.json", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "feedparse/testdata/feeds/illformed-jsonfeed-truncated-allthis.json")
	})
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		// Hold the request until the client gives up on it.
		<-r.Context().Done()
	})
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><body>This is not a feed</body></html>")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, rssDoc("Big", 200))
	})
	mux.HandleFunc("/etag", func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.inm = append(ts.inm, r.Header.Get("If-None-Match"))
		ts.mu.Unlock()
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 23 Nov 2026 10:00:00 GMT")
		fmt.Fprint(w, rssDoc("Tagged", 2))
	})
	ts.Server = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func errorFor(res Result, source string) string {
	for _, e := range res.Errors {
		if e.Source == source {
			return e.Error
		}
	}
	return ""
}

func countFrom(arts []digest.Article, sourceName string) int {
	n := 0
	for _, a := range arts {
		if a.SourceName == sourceName {
			n++
		}
	}
	return n
}

func TestCollect(t *testing.T) {
	ts := newTestServer(t)
	dir := t.TempDir()
	writeFile(t, dir, "good.md", "+++\ntitle = \"Good note\"\ndate = 2026-11-20\n+++\nBody.\n")
	writeFile(t, dir, "broken.md", "+++\ntitle = \n+++\nBody.\n")
	writeFile(t, dir, "photo.jpg", "\xff\xd8\xff")
	writeFile(t, dir, "sub/inner.txt", "Inner title\n\nInner body.\n")
	writeFile(t, dir, "sub/deeper/too-deep.txt", "Too deep\n")

	feedPath, _ := filepath.Abs("feedparse/testdata/feeds/rss2-medium-emarley.xml")
	sources := []config.Source{
		{Name: "Good", URL: ts.URL + "/ok", Timeout: 5 * time.Second, MaxBytes: 1 << 20},
		{Name: "Missing", URL: ts.URL + "/missing", Timeout: 5 * time.Second},
		{Name: "Slow", URL: ts.URL + "/block", Timeout: 100 * time.Millisecond},
		{Name: "Garbage", URL: ts.URL + "/garbage", Timeout: 5 * time.Second},
		{Name: "Big", URL: ts.URL + "/big", Timeout: 5 * time.Second, MaxBytes: 2048},
		{Name: "Folder", Path: dir, Timeout: 5 * time.Second},
		{Name: "File feed", URL: "file://" + filepath.ToSlash(feedPath), Timeout: 5 * time.Second},
		{Name: "No file", URL: "file:///nonexistent/feed.xml"},
		{Name: "Gopher", URL: "gopher://example.org/feed"},
		{Name: "Truncated", URL: ts.URL + "/truncated.json", Timeout: 5 * time.Second},
	}
	res := Collect(context.Background(), sources, Options{Concurrency: 4, UserAgent: "digest-test/1", Now: func() time.Time { return fixedNow }})

	for _, e := range res.Errors {
		t.Logf("%s: %s", e.Source, e.Error)
	}
	wantCounts := map[string]int{"Good": 3, "Folder": 2, "File feed": 10, "Truncated": 2}
	for name, want := range wantCounts {
		if got := countFrom(res.Articles, name); got != want {
			t.Errorf("%s: %d articles, want %d", name, got, want)
		}
	}
	if len(res.Articles) != 17 {
		t.Errorf("got %d articles, want 17", len(res.Articles))
	}
	// Articles come back in source order.
	if res.Articles[0].SourceName != "Good" || res.Articles[len(res.Articles)-1].SourceName != "Truncated" {
		t.Errorf("articles not in source order: first %q last %q", res.Articles[0].SourceName, res.Articles[len(res.Articles)-1].SourceName)
	}
	if res.Articles[0].URL != "https://site.example/posts/0" {
		t.Errorf("relative link: %q", res.Articles[0].URL)
	}

	wantErrs := []struct{ source, has string }{
		{"Missing", "404 Not Found"},
		{"Slow", "timeout after 100ms"},
		{"Garbage", "not an RSS, Atom or JSON feed"},
		{"Big", "max_bytes (2048 bytes)"},
		{"Folder: broken.md", "front matter (TOML)"},
		{"No file", "no such file"},
		{"Gopher", "unsupported scheme"},
		{"Truncated", "feed: truncated document, kept 2 complete items: truncated JSON"},
	}
	for _, w := range wantErrs {
		t.Run(w.source, func(t *testing.T) {
			got := errorFor(res, w.source)
			if !strings.Contains(got, w.has) {
				t.Errorf("error %q, want it to contain %q", got, w.has)
			}
			name := strings.SplitN(w.source, ":", 2)[0]
			if !strings.HasPrefix(got, fmt.Sprintf("collect: source %q: ", name)) {
				t.Errorf("error %q does not name the source", got)
			}
		})
	}
	if len(res.Errors) != len(wantErrs) {
		t.Errorf("got %d errors, want %d: %+v", len(res.Errors), len(wantErrs), res.Errors)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.agents) != 1 || ts.agents[0] != "digest-test/1" {
		t.Errorf("User-Agent sent: %q", ts.agents)
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCollectConditionalGET(t *testing.T) {
	ts := newTestServer(t)
	state := &memState{}
	src := []config.Source{{Name: "Tagged", URL: ts.URL + "/etag", Timeout: 5 * time.Second}}
	opts := Options{State: state}

	first := Collect(context.Background(), src, opts)
	if len(first.Articles) != 2 || len(first.Errors) != 0 {
		t.Fatalf("first fetch: %d articles, errors %v", len(first.Articles), first.Errors)
	}
	if got := state.state[src[0].URL]; got[0] != `"v1"` || got[1] != "Mon, 23 Nov 2026 10:00:00 GMT" {
		t.Fatalf("state saved %q", got)
	}
	second := Collect(context.Background(), src, opts)
	if len(second.Articles) != 0 || len(second.Errors) != 0 {
		t.Fatalf("304: %d articles, errors %v; want none of either", len(second.Articles), second.Errors)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.inm) != 2 || ts.inm[0] != "" || ts.inm[1] != `"v1"` {
		t.Errorf("If-None-Match sent: %q", ts.inm)
	}
}

// TestCollectStateNotSavedOnFailure: validators of a feed that did not
// parse must not be stored, or the next run would get a 304 and never
// see its articles.
func TestCollectStateNotSavedOnFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"bad"`)
		fmt.Fprint(w, "{not json")
	}))
	defer srv.Close()
	state := &memState{}
	res := Collect(context.Background(), []config.Source{{Name: "Bad", URL: srv.URL}}, Options{State: state})
	if len(res.Errors) != 1 {
		t.Fatalf("errors %v", res.Errors)
	}
	if len(state.state) != 0 {
		t.Errorf("state saved for a failed feed: %v", state.state)
	}
}

func TestCollectRecoversPanic(t *testing.T) {
	ts := newTestServer(t)
	state := &memState{panic: ts.URL + "/etag"}
	res := Collect(context.Background(), []config.Source{
		{Name: "Boom", URL: ts.URL + "/etag"},
		{Name: "Good", URL: ts.URL + "/ok"},
	}, Options{State: state})
	if got := errorFor(res, "Boom"); !strings.Contains(got, "internal error: state exploded") {
		t.Errorf("Boom error %q", got)
	}
	if countFrom(res.Articles, "Good") != 3 {
		t.Errorf("the good source was not collected: %d", len(res.Articles))
	}
}

func TestCollectConcurrencyBound(t *testing.T) {
	const bound, n = 3, 9
	var (
		mu       sync.Mutex
		inflight int
		maxSeen  int
	)
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inflight++
		maxSeen = max(maxSeen, inflight)
		mu.Unlock()
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		mu.Lock()
		inflight--
		mu.Unlock()
		fmt.Fprint(w, rssDoc("C", 1))
	}))
	defer srv.Close()
	var sources []config.Source
	for i := range n {
		sources = append(sources, config.Source{Name: fmt.Sprint("s", i), URL: fmt.Sprintf("%s/%d", srv.URL, i), Timeout: 10 * time.Second})
	}
	done := make(chan Result)
	go func() { done <- Collect(context.Background(), sources, Options{Concurrency: bound}) }()
	// Wait until the bound is reached, then let everything through.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		cur := inflight
		mu.Unlock()
		if cur == bound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests in flight, want %d", cur, bound)
		}
		time.Sleep(time.Millisecond) // polling the condition, not waiting for time to pass
	}
	close(gate)
	res := <-done
	if len(res.Articles) != n || len(res.Errors) != 0 {
		t.Fatalf("%d articles, errors %v", len(res.Articles), res.Errors)
	}
	if maxSeen != bound {
		t.Errorf("saw %d requests at once, want at most %d", maxSeen, bound)
	}
}

func TestCollectCanceled(t *testing.T) {
	ts := newTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Collect(ctx, []config.Source{{Name: "A", URL: ts.URL + "/ok"}, {Name: "B", Path: t.TempDir()}}, Options{})
	if len(res.Errors) != 2 || len(res.Articles) != 0 {
		t.Fatalf("articles %d errors %v", len(res.Articles), res.Errors)
	}
	for _, e := range res.Errors {
		if !strings.Contains(e.Error, "canceled") {
			t.Errorf("%s: %q", e.Source, e.Error)
		}
	}
}
