package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

func (f *fixture) server(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	f.a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// noPersonalData fails when body shows anything of the reader the issue
// went to, or a token-bearing link.
func noPersonalData(t *testing.T, what, body string) {
	t.Helper()
	for _, p := range []string{reader.Email, reader.Name, "token=", "/unsubscribe", "/preferences", "Hi "} {
		if strings.Contains(body, p) {
			t.Errorf("%s contains %q", what, p)
		}
	}
}

func TestIssuePage(t *testing.T) {
	f := newFixture(t, nil)
	is := f.addIssue(t, 0, "weekly", true)
	queued := f.addIssue(t, 1, "weekly", false)
	srv := f.server(t)

	res, body := get(t, fmt.Sprintf("%s/archive/%d", srv.URL, is.ID))
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, title := range []string{issueTitle(0, "River levels fall"), issueTitle(0, "Tram line budget approved"), issueTitle(0, "Editor's note")} {
		if !strings.Contains(body, strings.ReplaceAll(title, "'", "&#39;")) {
			t.Errorf("page lacks %q (nothing may be cut on the web)", title)
		}
	}
	noPersonalData(t, "issue page", body)
	for _, want := range []string{
		`rel="alternate" type="application/atom+xml"`, `href="https://news.example.org/archive/feed.json"`,
		`property="og:url" content="https://news.example.org/archive/` + fmt.Sprint(is.ID) + `"`,
		"prefers-color-scheme: dark",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	for _, path := range []string{fmt.Sprint(queued.ID), "999", "0", "abc", "-1"} {
		if res, _ := get(t, srv.URL+"/archive/"+path); res.StatusCode != 404 {
			t.Errorf("/archive/%s: status %d, want 404", path, res.StatusCode)
		}
	}
}

// A page is rendered once, however often it is asked for.
func TestIssuePageRenderedOnce(t *testing.T) {
	f := newFixture(t, nil)
	is := f.addIssue(t, 0, "weekly", true)
	srv := f.server(t)
	var first string
	for i := range 3 {
		_, body := get(t, fmt.Sprintf("%s/archive/%d", srv.URL, is.ID))
		if i == 0 {
			first = body
		} else if body != first {
			t.Fatal("the page changed between requests")
		}
	}
	get(t, srv.URL+"/archive")
	get(t, srv.URL+"/archive/feed.atom")
	if n := f.r.pages.Load(); n != 1 {
		t.Errorf("rendered %d times, want 1", n)
	}
}

func TestIndexPages(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.PageSize = 2 })
	for i := range 3 {
		f.addIssue(t, i, "weekly", true)
	}
	f.addIssue(t, 3, "daily", true)
	f.addIssue(t, 4, "weekly", false) // queued: not public
	srv := f.server(t)

	res, body := get(t, srv.URL+"/archive")
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	noPersonalData(t, "list page", body)
	// Newest first: the daily issue 3, then weekly 2; weekly 1 on page 2.
	d, w2 := strings.Index(body, issueTitle(3, "River levels fall")), strings.Index(body, issueTitle(2, "River levels fall"))
	if d < 0 || w2 < 0 || d > w2 || strings.Contains(body, issueTitle(1, "River levels fall")) || strings.Contains(body, issueTitle(4, "River levels fall")) {
		t.Errorf("page 1 should list issues D then C only:\n%s", body)
	}
	for _, want := range []string{`href="https://news.example.org/archive?page=2" rel="next"`, `href="https://news.example.org/archive?edition=daily"`, `type="application/atom+xml"`, `property="og:title"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page 1 lacks %s", want)
		}
	}
	_, body = get(t, srv.URL+"/archive?page=2")
	if !strings.Contains(body, issueTitle(1, "River levels fall")) || !strings.Contains(body, `rel="prev"`) {
		t.Errorf("page 2 should list issue B and link back:\n%s", body)
	}
	_, body = get(t, srv.URL+"/archive?edition=weekly")
	if strings.Contains(body, issueTitle(3, "River levels fall")) || !strings.Contains(body, issueTitle(1, "River levels fall")) {
		t.Errorf("the weekly list should hold issues C and B only:\n%s", body)
	}
	for q, want := range map[string]int{"?page=0": 400, "?page=x": 400, "?edition=monthly": 404} {
		if res, _ := get(t, srv.URL+"/archive"+q); res.StatusCode != want {
			t.Errorf("/archive%s: status %d, want %d", q, res.StatusCode, want)
		}
	}
}

func TestIndexGolden(t *testing.T) {
	f := newFixture(t, nil)
	f.addIssue(t, 0, "weekly", true)
	f.addIssue(t, 1, "daily", true)
	_, body := get(t, f.server(t).URL+"/archive")
	checkGolden(t, "index.html", []byte(body))
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./archive -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept); got:\n%s", path, got)
	}
}

// checkFeeds parses both feeds with gofeed and checks their roots,
// versions and one entry per issue, newest first, with full content.
func checkFeeds(t *testing.T, atom, jsonFeed []byte, wantIDs []string) {
	t.Helper()
	var root struct{ XMLName xml.Name }
	if err := xml.Unmarshal(atom, &root); err != nil {
		t.Fatalf("atom is not XML: %v", err)
	}
	if root.XMLName.Space != atomNS || root.XMLName.Local != "feed" {
		t.Errorf("atom root = {%s}%s", root.XMLName.Space, root.XMLName.Local)
	}
	fa, err := gofeed.NewParser().ParseString(string(atom))
	if err != nil {
		t.Fatalf("gofeed atom: %v", err)
	}
	if fa.FeedType != "atom" || fa.FeedVersion != "1.0" {
		t.Errorf("atom type %s %s", fa.FeedType, fa.FeedVersion)
	}
	var raw map[string]any
	if err := json.Unmarshal(jsonFeed, &raw); err != nil {
		t.Fatalf("json feed is not JSON: %v", err)
	}
	if raw["version"] != "https://jsonfeed.org/version/1.1" {
		t.Errorf("json feed version = %v", raw["version"])
	}
	fj, err := gofeed.NewParser().ParseString(string(jsonFeed))
	if err != nil {
		t.Fatalf("gofeed json: %v", err)
	}
	if fj.FeedType != "json" {
		t.Errorf("json type %s", fj.FeedType)
	}
	for _, feed := range []*gofeed.Feed{fa, fj} {
		if len(feed.Items) != len(wantIDs) {
			t.Fatalf("%s: %d entries, want %d", feed.FeedType, len(feed.Items), len(wantIDs))
		}
		for i, it := range feed.Items {
			if !strings.HasSuffix(it.Link, wantIDs[i]) || it.GUID == "" || it.PublishedParsed == nil || it.Title == "" {
				t.Errorf("%s entry %d: link %q guid %q published %v title %q", feed.FeedType, i, it.Link, it.GUID, it.PublishedParsed, it.Title)
			}
			if !strings.Contains(it.Content, "Tram line budget approved") || !strings.Contains(it.Content, "Editor") {
				t.Errorf("%s entry %d lacks the full content: %q", feed.FeedType, i, it.Content)
			}
			noPersonalData(t, feed.FeedType+" entry", it.Content)
			// The note from a file has no URL: it links to its place on the page.
			if !strings.Contains(it.Content, wantIDs[i]+"#a-") {
				t.Errorf("%s entry %d: the article without a URL does not link to the issue page", feed.FeedType, i)
			}
		}
	}
}

func TestFeeds(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.FeedItems = 2 })
	for i := range 3 {
		f.addIssue(t, i, "weekly", true)
	}
	f.addIssue(t, 3, "weekly", false) // queued
	srv := f.server(t)
	resA, atom := get(t, srv.URL+"/archive/feed.atom")
	resJ, jsonFeed := get(t, srv.URL+"/archive/feed.json")
	if ct := resA.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/atom+xml") {
		t.Errorf("atom type %q", ct)
	}
	if ct := resJ.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/feed+json") {
		t.Errorf("json type %q", ct)
	}
	checkFeeds(t, []byte(atom), []byte(jsonFeed), []string{
		fmt.Sprintf("/archive/%d", f.issues[2].ID), fmt.Sprintf("/archive/%d", f.issues[1].ID),
	})
	noPersonalData(t, "atom", atom)
	noPersonalData(t, "json feed", jsonFeed)
}

func TestEmptyFeeds(t *testing.T) {
	srv := newFixture(t, nil).server(t)
	_, atom := get(t, srv.URL+"/archive/feed.atom")
	_, jsonFeed := get(t, srv.URL+"/archive/feed.json")
	checkFeeds(t, []byte(atom), []byte(jsonFeed), nil)
	if res, body := get(t, srv.URL+"/archive"); res.StatusCode != 200 || !strings.Contains(body, "No issues yet") {
		t.Errorf("empty list: %d %s", res.StatusCode, body)
	}
}

// Many first requests at once still render an issue once, and an issue
// that becomes public after a 404 is served then.
func TestConcurrentFirstRequests(t *testing.T) {
	f := newFixture(t, nil)
	is := f.addIssue(t, 0, "weekly", true)
	queued := f.addIssue(t, 1, "weekly", false)
	srv := f.server(t)
	if res, _ := get(t, fmt.Sprintf("%s/archive/%d", srv.URL, queued.ID)); res.StatusCode != 404 {
		t.Fatalf("queued issue: %d", res.StatusCode)
	}
	done := make(chan int, 8)
	for range 8 {
		go func() {
			res, err := http.Get(fmt.Sprintf("%s/archive/%d", srv.URL, is.ID))
			if err != nil {
				done <- 0
				return
			}
			res.Body.Close()
			done <- res.StatusCode
		}()
	}
	for range 8 {
		if code := <-done; code != 200 {
			t.Errorf("status %d", code)
		}
	}
	if n := f.r.pages.Load(); n != 1 {
		t.Errorf("rendered %d times, want 1", n)
	}
	if err := f.db.FinishIssue(context.Background(), queued.ID, t0); err != nil {
		t.Fatal(err)
	}
	if res, _ := get(t, fmt.Sprintf("%s/archive/%d", srv.URL, queued.ID)); res.StatusCode != 200 {
		t.Errorf("issue after it went out: %d", res.StatusCode)
	}
}
