package digest

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCanonicalURLTracking: the parameters the two former canonicalisers
// disagreed on are all stripped now, by the one canonicaliser both paths
// use.
func TestCanonicalURLTracking(t *testing.T) {
	want := "https://example.org/story?id=7"
	for _, q := range []string{"pk_campaign=rss&pk_kwd=x", "dclid=1", "msclkid=2", "ref=hn", "ref_src=twsrc", "cmpid=3", "ito=4", "at_medium=RSS", "utm_source=feed", "mc_cid=5"} {
		in := "https://Example.org/story?id=7&" + q
		if got := CanonicalURL(in); got != want {
			t.Errorf("CanonicalURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := CanonicalURL("http://[::1]:8080/a/"); got != "http://[::1]:8080/a" {
		t.Errorf("IPv6 host: %q", got)
	}
}

// TestArticleIDAndSeenKeysAgree: an article's ID and its "seen" key come
// from the same canonical form, so a link seen with tracking parameters is
// recognised without them, and the other way round.
func TestArticleIDAndSeenKeysAgree(t *testing.T) {
	a := Article{URL: "https://example.org/story?ref=rss&pk_source=x"}
	a.ID = ArticleID("", a.URL, "title")
	b := Article{URL: "https://example.org/story"}
	b.ID = ArticleID("", b.URL, "other title")
	if a.ID != b.ID || a.ID != "https://example.org/story" {
		t.Fatalf("IDs differ: %q vs %q", a.ID, b.ID)
	}
	seen := map[string]bool{}
	for _, k := range SeenKeys(a) {
		seen[k] = true
	}
	for _, k := range SeenKeys(b) {
		if !seen[k] {
			t.Errorf("key %q of the same article was not recorded", k)
		}
	}
	if got := Select([]Article{b}, SelectOptions{Seen: func(k string) bool { return seen[k] }}); len(got) != 0 {
		t.Errorf("a seen article came back: %+v", got)
	}
}

func TestArticleID(t *testing.T) {
	if got := ArticleID(" guid-1 ", "https://x.org/a"); got != "guid-1" {
		t.Errorf("GUID not preferred: %q", got)
	}
	if got := ArticleID("", "file:///notes/a.md"); got != "file:///notes/a.md" {
		t.Errorf("file URL: %q", got)
	}
	h1, h2 := ArticleID("", "/relative", "Title", "/relative"), ArticleID("", "", "Title", "/relative")
	if !strings.HasPrefix(h1, "sha256:") || h1 != h2 {
		t.Errorf("hash IDs %q %q", h1, h2)
	}
	if ArticleID("", "", "Other") == h1 {
		t.Error("different fallbacks gave one ID")
	}
}

// TestArticleJSON: what is frozen with an issue is what rendering and the
// archive use; selection-only fields stay out.
func TestArticleJSON(t *testing.T) {
	b, err := json.Marshal(Article{ID: "x", GUID: "g", Title: "T", Body: NewText("long text"), Categories: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"guid"`, `"categories"`, `"Body"`, `"body"`, "long text"} {
		if strings.Contains(string(b), key) {
			t.Errorf("%s serialised: %s", key, b)
		}
	}
}
