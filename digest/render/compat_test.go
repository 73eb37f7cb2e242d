package render

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/digest-newsletter/digest/digest"
)

// fileDigest is the fixture with the lead story, one "Also in" link and the
// markup article pointing at things a reader cannot open, as article files
// without a url do.
func fileDigest() *digest.Digest {
	d := fixtureDigest()
	d.Top[0].URL = "file:///work/main/examples/articles/floods.txt"
	d.Topics[0].Articles[0].URL = d.Top[0].URL
	d.Top[0].Also[1].URL = "file:///srv/radio-north.md"
	d.Topics[0].Articles[0].Also = d.Top[0].Also
	d.Topics[3].Articles[0].URL = "javascript:alert(1)"
	return d
}

// Several clients strip or mangle HTML5 sectioning elements and <time>, and
// break in-page links (caniemail html-semantics, html-anchor-links).
func TestHTMLAvoidsPoorlySupportedMarkup(t *testing.T) {
	r := newTestRenderer(t, nil)
	semantic := regexp.MustCompile(`(?i)<(article|aside|details|figcaption|figure|footer|header|main|mark|nav|section|summary|time)[\s>/]`)
	localAnchor := regexp.MustCompile(`(?i)href\s*=\s*["']?#`)
	_, confirm, _, err := r.Confirmation("https://news.example.org/confirm?token=t")
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{"confirmation": confirm}
	for name, d := range map[string]*digest.Digest{"fixture": fixtureDigest(), "file links": fileDigest(), "big": bigDigest(60)} {
		rd, err := r.Render(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		bodies[name], _ = rd.Personalize(testRecipient)
	}
	for name, html := range bodies {
		t.Run(name, func(t *testing.T) {
			if m := semantic.Find(html); m != nil {
				t.Errorf("HTML uses the HTML5 semantic element %q", m)
			}
			if m := localAnchor.Find(html); m != nil {
				t.Errorf("HTML has a local anchor %q", m)
			}
			if bytes.Contains(html, []byte("ZgotmplZ")) {
				t.Error("html/template rejected a URL (#ZgotmplZ)")
			}
			if bytes.Contains(html, []byte("<p")) {
				t.Error("HTML uses <p>, whose default margins differ between clients")
			}
			// The preheader is hidden by display:none, and mso-hide:all for
			// Outlook for Windows.
			pre := regexp.MustCompile(`<div class="preheader" style="([^"]*)"`).FindSubmatch(html)
			if pre == nil {
				t.Fatal("no preheader")
			}
			for _, want := range []string{"display:none", "mso-hide:all"} {
				if !bytes.Contains(pre[1], []byte(want)) {
					t.Errorf("preheader style %q lacks %s", pre[1], want)
				}
			}
		})
	}
}

// Margins are only used to zero the default margins of the body and the
// headings; spacing comes from cell padding.
func TestMarginsOnlyZeroDefaults(t *testing.T) {
	r := newTestRenderer(t, nil)
	rd, err := r.Render(fixtureDigest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := rd.Personalize(testRecipient)
	tag := regexp.MustCompile(`<([a-z0-9]+)[^>]*style="([^"]*)"`)
	margin := regexp.MustCompile(`(?:^|;)\s*margin(?:-[a-z]+)?\s*:\s*([^;]*)`)
	for _, m := range tag.FindAllSubmatch(html, -1) {
		for _, mm := range margin.FindAllSubmatch(m[2], -1) {
			switch name := string(m[1]); {
			case name != "body" && name != "h1" && name != "h2" && name != "h3":
				t.Errorf("<%s> has a margin: %s", name, m[2])
			case string(mm[1]) != "0":
				t.Errorf("<%s> margin %q, want 0", name, mm[1])
			}
		}
	}
}

func TestNonWebLinksShownAsText(t *testing.T) {
	r := newTestRenderer(t, nil)
	rd, err := r.Render(fileDigest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	html, text := rd.Personalize(testRecipient)
	for _, part := range []struct {
		name string
		b    []byte
	}{{"html", html}, {"text", text}} {
		for _, bad := range []string{"file:", "javascript:", "floods.txt", "radio-north.md"} {
			if bytes.Contains(part.b, []byte(bad)) {
				t.Errorf("%s part contains %q", part.name, bad)
			}
		}
	}
	wantHTML := []string{
		`>River levels fall after a week of flooding in the valley</h3>`,
		`Also in: <a href="https://courier.example/2026/11/floods" style="color:#1a5fb4">The Courier</a>, Radio North</div>`,
		`>Markup &lt;b&gt;in&lt;/b&gt; a title &amp; more</h3>`,
	}
	for _, w := range wantHTML {
		if !bytes.Contains(html, []byte(w)) {
			t.Errorf("HTML lacks %q", w)
		}
	}
	wantText := []string{
		"  Also in:\n  - The Courier: https://courier.example/2026/11/floods\n  - Radio North\n",
		// The summary is followed by the next article, not by a link line.
		"\n  show as text.\n\n-- \n",
	}
	for _, w := range wantText {
		if !bytes.Contains(text, []byte(w)) {
			t.Errorf("text lacks %q", w)
		}
	}
	// Web links still come through in both parts.
	if !bytes.Contains(html, []byte(`href="https://courier.example/2026/11/tram"`)) || !bytes.Contains(text, []byte("\n  https://courier.example/2026/11/tram\n")) {
		t.Error("an http(s) article link went missing")
	}
}

func TestWebURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.org/a", "https://example.org/a"},
		{" HTTP://example.org/a ", "HTTP://example.org/a"},
		{"file:///work/x.txt", ""},
		{"javascript:alert(1)", ""},
		{"mailto:a@example.org", ""},
		{"https://", ""},
		{"https://example.org/a b", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := webURL(tt.in); got != tt.want {
				t.Errorf("webURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
