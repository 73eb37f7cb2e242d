package collect

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
	"github.com/digest-newsletter/digest/digest/spill"
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

// datedRSS is a feed whose items are dated one hour apart, oldest first.
func datedRSS(n int) string {
	var b strings.Builder
	b.WriteString(`<rss version="2.0"><channel><title>www.example.org for the latest news from everywhere</title><link>https://site.example/</link>`)
	for i := range n {
		fmt.Fprintf(&b, `<item><title>Item %d</title><link>https://site.example/%d</link><pubDate>%s</pubDate></item>`,
			i, i, fixedNow.Add(time.Duration(i-n)*time.Hour).Format(time.RFC1123Z))
	}
	b.WriteString(`</channel></rss>`)
	return b.String()
}

// TestMaxItems: a source keeps its newest items only, a feed's and a
// folder's alike; a source's own cap wins over the run's.
func TestMaxItems(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, datedRSS(10))
	}))
	defer srv.Close()
	dir := t.TempDir()
	for i := range 5 {
		writeFile(t, dir, fmt.Sprintf("n%d.md", i), fmt.Sprintf("+++\ntitle = \"Note %d\"\ndate = 2026-11-%02dT00:00:00Z\n+++\nBody.\n", i, 10+i))
	}
	res := Collect(t.Context(), []config.Source{
		{Name: "Feed", URL: srv.URL},
		{Name: "Own cap", URL: srv.URL + "/other", MaxItems: 1},
		{Name: "Folder", Path: dir},
	}, Options{MaxItems: 3, Now: func() time.Time { return fixedNow }})
	if len(res.Errors) != 0 {
		t.Fatal(res.Errors)
	}
	var got []string
	for _, a := range res.Articles {
		got = append(got, a.SourceName+"/"+a.Title)
	}
	want := "Feed/Item 9,Feed/Item 8,Feed/Item 7,Own cap/Item 9,Folder/Note 4,Folder/Note 3,Folder/Note 2"
	if strings.Join(got, ",") != want {
		t.Errorf("kept %q\nwant %q", strings.Join(got, ","), want)
	}
}

// TestConfiguredNameWins: readers see the [[sources]] name, not the
// feed's own title (often a slogan).
func TestConfiguredNameWins(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, datedRSS(1))
	}))
	defer srv.Close()
	res := Collect(t.Context(), []config.Source{{Name: "The Example", URL: srv.URL}}, Options{})
	if len(res.Articles) != 1 || res.Articles[0].Source != "The Example" {
		t.Fatalf("source %+v", res.Articles)
	}
}

// TestPerHostBound: at most PerHost sources of one host are fetched at
// once, and a busy host does not hold up another one.
func TestPerHostBound(t *testing.T) {
	const perHost = 2
	var (
		mu       sync.Mutex
		inflight int
		maxSeen  int
	)
	gate := make(chan struct{})
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		fmt.Fprint(w, rssDoc("Busy", 1))
	}))
	defer busy.Close()
	otherDone := make(chan struct{})
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, rssDoc("Other", 1))
		close(otherDone)
	}))
	defer other.Close()
	var sources []config.Source
	for i := range 6 {
		sources = append(sources, config.Source{Name: fmt.Sprint("busy", i), URL: fmt.Sprintf("%s/%d", busy.URL, i), Timeout: time.Minute})
	}
	sources = append(sources, config.Source{Name: "other", URL: other.URL, Timeout: time.Minute})
	done := make(chan Result)
	go func() { done <- Collect(context.Background(), sources, Options{Concurrency: 4, PerHost: perHost}) }()
	// Wait until the busy host holds all its slots...
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		cur := inflight
		mu.Unlock()
		if cur == perHost {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests in flight, want %d", cur, perHost)
		}
		time.Sleep(time.Millisecond) // polling the condition, not waiting for time to pass
	}
	// ...then the other host must still be served: the four sources
	// waiting for the busy host hold none of the run's four slots.
	select {
	case <-otherDone:
	case <-time.After(30 * time.Second):
		t.Fatal("a busy host held up another host")
	}
	close(gate)
	res := <-done
	if len(res.Articles) != 7 || len(res.Errors) != 0 {
		t.Fatalf("%d articles, errors %v", len(res.Articles), res.Errors)
	}
	if maxSeen != perHost {
		t.Errorf("saw %d requests to one host at once, want %d", maxSeen, perHost)
	}
}

func TestExampleArticles(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "articles")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("examples not present: %v", err)
	}
	res := Collect(t.Context(), []config.Source{{Name: "Local notes", Path: dir}}, Options{})
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
	arts := res.Articles
	if len(arts) < 6 {
		t.Fatalf("got %d example articles, want at least 6", len(arts))
	}
	sources := map[string]bool{}
	for _, a := range arts {
		if a.Title == "" || a.Published.IsZero() || a.Summary == "" || a.Body.Blank() {
			t.Errorf("incomplete example %q: %+v", a.URL, a)
		}
		if a.Published.Year() != 2026 {
			t.Errorf("%q published %v, want a date in 2026", a.Title, a.Published)
		}
		sources[a.Source] = true
	}
	if len(sources) < 3 {
		t.Errorf("examples name %d publications, want several: %v", len(sources), sources)
	}
}

// TestParsersBoundsParsing: however many feeds are fetched at once, at
// most Options.Parsers of them are parsed at once, and every feed is
// still read.
func TestParsersBoundsParsing(t *testing.T) {
	dir := t.TempDir()
	var sources []config.Source
	for i := range 24 {
		p := filepath.Join(dir, fmt.Sprintf("feed%d.xml", i))
		if err := os.WriteFile(p, []byte(rssDoc(fmt.Sprint("feed", i), 200)), 0o644); err != nil {
			t.Fatal(err)
		}
		sources = append(sources, config.Source{Name: fmt.Sprint("feed", i), URL: "file://" + p})
	}
	var mu sync.Mutex
	inFlight, most := 0, 0
	real := parseFeed
	parseFeed = func(data []byte, feedURL string, o feedparse.Options) ([]digest.Article, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		return real(data, feedURL, o)
	}
	t.Cleanup(func() { parseFeed = real })

	res := Collect(context.Background(), sources, Options{Concurrency: 24, Parsers: 1, Now: func() time.Time { return fixedNow }})
	if len(res.Errors) > 0 || len(res.Articles) != 24*200 {
		t.Fatalf("got %d articles, errors %v", len(res.Articles), res.Errors)
	}
	if most != 1 {
		t.Errorf("%d feeds parsed at once, want at most Parsers = 1", most)
	}
}

// TestCollectClosesIdleConnections: a run's own client closes its idle
// connections when the run ends; kept, each would hold two goroutines and
// their buffers until the idle timeout, long after collection.
func TestCollectClosesIdleConnections(t *testing.T) {
	var mu sync.Mutex
	open := 0
	allClosed := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, rssDoc("Feed", 3))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open++
		case http.StateClosed, http.StateHijacked:
			if open--; open == 0 {
				close(allClosed)
			}
		}
	}
	srv.Start()
	defer srv.Close()
	var sources []config.Source
	for i := range 8 {
		sources = append(sources, config.Source{Name: fmt.Sprint("feed", i), URL: fmt.Sprintf("%s/%d", srv.URL, i)})
	}
	res := Collect(context.Background(), sources, Options{Now: func() time.Time { return fixedNow }})
	if len(res.Errors) > 0 || len(res.Articles) != 8*3 {
		t.Fatalf("got %d articles, errors %v", len(res.Articles), res.Errors)
	}
	select {
	case <-allClosed:
	case <-time.After(30 * time.Second): // the idle timeout is 90 s
		t.Fatal("connections still open 30 s after Collect returned")
	}
}

// With a spill file, every article's text waits in it and reads back as
// collected; nothing of it is lost or changed on the way.
func TestCollectSpillsTexts(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "articles")
	src := []config.Source{{Name: "Local notes", Path: dir}}
	plain := Collect(t.Context(), src, Options{})
	f, err := spill.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spilled := Collect(t.Context(), src, Options{Spill: f})
	if len(plain.Articles) == 0 || len(spilled.Articles) != len(plain.Articles) {
		t.Fatalf("%d articles spilled, %d in memory", len(spilled.Articles), len(plain.Articles))
	}
	var total int64
	for i, a := range spilled.Articles {
		want := plain.Articles[i].Body.String()
		if a.Body.String() != want {
			t.Errorf("%s: body %.40q, want %.40q", a.URL, a.Body.String(), want)
		}
		total += int64(len(want))
	}
	if f.Size() != total || f.Err() != nil {
		t.Errorf("spill file holds %d bytes (error %v), want all %d bytes of text", f.Size(), f.Err(), total)
	}
}
