package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/digest-newsletter/digest/digest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

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
		t.Fatalf("%v (run go test ./digest/render -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept); got:\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	r := newTestRenderer(t, nil)
	tests := []struct {
		name   string
		topics []string
	}{
		{"digest", nil},
		{"digest-sport", []string{"sport"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := r.Render(fixtureDigest(), tt.topics)
			if err != nil {
				t.Fatal(err)
			}
			html, text := rd.Personalize(testRecipient)
			checkGolden(t, tt.name+".html", html)
			checkGolden(t, tt.name+".txt", text)
		})
	}
	t.Run("confirm", func(t *testing.T) {
		subject, html, text, err := r.Confirmation("https://news.example.org/confirm?token=t0k.en&x=1")
		if err != nil {
			t.Fatal(err)
		}
		if subject != "Please confirm your subscription to The Region Brief" {
			t.Errorf("subject = %q", subject)
		}
		checkGolden(t, "confirm.html", html)
		checkGolden(t, "confirm.txt", text)
	})
}

func TestSubjectAndPreheader(t *testing.T) {
	r := newTestRenderer(t, nil)
	tests := []struct {
		name         string
		edit         func(*digest.Digest)
		subject, pre string
	}{
		{"edition", nil, "The Region Brief (weekly) — 25 Nov 2026", "River levels fall after a week of flooding in the valley"},
		{"no edition, no top", func(d *digest.Digest) { d.Edition = ""; d.Top = nil },
			"The Region Brief — 25 Nov 2026",
			"River levels fall after a week of flooding in the valley · Council approves the new tram line budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fixtureDigest()
			if tt.edit != nil {
				tt.edit(d)
			}
			rd, err := r.Render(d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rd.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", rd.Subject, tt.subject)
			}
			if rd.Preheader != tt.pre {
				t.Errorf("preheader = %q, want %q", rd.Preheader, tt.pre)
			}
			html, _ := rd.Personalize(testRecipient)
			if !bytes.Contains(html, []byte(`class="preheader"`)) || !bytes.Contains(html, []byte(tt.pre)) {
				t.Error("hidden preheader missing from the HTML")
			}
		})
	}
}

func TestHTMLStructure(t *testing.T) {
	r := newTestRenderer(t, nil)
	rd, err := r.Render(fixtureDigest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := rd.Personalize(testRecipient)
	s := string(html)
	must := []struct{ what, sub string }{
		{"lang", `<html lang="en"`},
		{"color-scheme meta", `<meta name="color-scheme" content="light dark"/>`},
		{"dark media query kept in head", `@media (prefers-color-scheme: dark){`},
		{"h1 title", `>The Region Brief</h1>`},
		{"h2 top stories", `>Top stories</h2>`},
		{"h2 catch-all topic", `>More</h2>`},
		{"h3 linked title", `<a href="https://courier.example/2026/11/tram" style="color:#1a5fb4;text-decoration:none">Council approves the new tram line budget</a></h3>`},
		{"logo with alt and width", `alt="The Region Brief logo" width="200"`},
		{"also in", `Also in: <a href="https://courier.example/2026/11/floods" style="color:#1a5fb4">The Courier</a>, <a href="https://radionorth.example/news/river"`},
		{"author", `by Maria Costa`},
		{"why", `You receive this because you subscribed to The Region Brief`},
		{"postal address", `1 Example Street, 10115 City`},
		{"footer text", `Written by volunteers.`},
		{"unsubscribe link escaped", `href="https://news.example.org/unsubscribe?token=abc.def&amp;x=1"`},
		{"preferences link", `href="https://news.example.org/preferences?token=abc.def"`},
		{"inlined style", `<h1 style="`},
		{"outlook ghost table", `<!--[if mso]><table role="presentation" align="center" width="600"`},
		{"escaped script text", `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`},
	}
	for _, m := range must {
		t.Run(m.what, func(t *testing.T) {
			if !strings.Contains(s, m.sub) {
				t.Errorf("HTML lacks %q", m.sub)
			}
		})
	}
	mustNot := []string{"<script", "javascript:", "@import", "fonts.googleapis", "data-premailer", "<link "}
	for _, sub := range mustNot {
		if strings.Contains(strings.ToLower(s), sub) {
			t.Errorf("HTML contains %q", sub)
		}
	}
	// The top story is not repeated under its topic.
	if n := strings.Count(s, `href="https://valley-news.example/floods-recede"`); n != 1 {
		t.Errorf("lead story linked %d times, want 1", n)
	}
	if !regexp.MustCompile(`(?s)Top stories</h2>.*Politics</h2>.*Education</h2>.*Sport</h2>.*More</h2>`).MatchString(s) {
		t.Error("sections out of order")
	}
}

func TestTopicFilter(t *testing.T) {
	r := newTestRenderer(t, nil)
	tests := []struct {
		name      string
		topics    []string
		want, not []string
	}{
		{"all", nil, []string{">Politics</h2>", ">Sport</h2>", ">Top stories</h2>"}, nil},
		{"sport only drops the politics lead", []string{"Sport"}, []string{">Sport</h2>"}, []string{">Politics</h2>", ">Top stories</h2>", "floods-recede"}},
		{"politics keeps its lead", []string{"POLITICS"}, []string{">Top stories</h2>", "floods-recede", ">Politics</h2>"}, []string{">Sport</h2>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := r.Render(fixtureDigest(), tt.topics)
			if err != nil {
				t.Fatal(err)
			}
			html, _ := rd.Personalize(testRecipient)
			for _, w := range tt.want {
				if !bytes.Contains(html, []byte(w)) {
					t.Errorf("missing %q", w)
				}
			}
			for _, w := range tt.not {
				if bytes.Contains(html, []byte(w)) {
					t.Errorf("unexpected %q", w)
				}
			}
		})
	}
}

func TestSizeLimit(t *testing.T) {
	long := strings.Repeat("Officials and residents were quoted at length about what the decision means for the neighbourhood. ", 10)
	tests := []struct {
		name          string
		n             int
		summary       string
		maxPerTopic   int
		wantTruncated bool
	}{
		{"60 articles, default summaries fit", 60, "", 10, false},
		{"60 articles, long summaries overflow", 60, long, 10, true},
		{"max_per_topic caps", 60, "", 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRenderer(t, func(o *Options) { o.Newsletter.MaxPerTopic = tt.maxPerTopic })
			d := bigDigest(tt.n)
			if tt.summary != "" {
				for i := range d.Topics {
					for j := range d.Topics[i].Articles {
						d.Topics[i].Articles[j].Summary = tt.summary
					}
				}
			}
			rd, err := r.Render(d, nil)
			if err != nil {
				t.Fatal(err)
			}
			html, text := rd.Personalize(testRecipient)
			t.Logf("html %d bytes (worst case %d), text %d bytes, %d articles, %d per topic", len(html), rd.HTMLSize(), len(text), rd.Articles, rd.PerTopic)
			if len(html) >= 100*1024 || rd.HTMLSize() > 100*1024 {
				t.Errorf("html %d bytes, worst case %d: over 100 KB", len(html), rd.HTMLSize())
			}
			if rd.Truncated != tt.wantTruncated {
				t.Errorf("Truncated = %v, want %v", rd.Truncated, tt.wantTruncated)
			}
			link := []byte(`<a href="https://news.example.org/latest" style="color:#1a5fb4">Read more on the web</a>`)
			if got := bytes.Contains(html, link); got != tt.wantTruncated {
				t.Errorf("more-on-the-web link present = %v, want %v", got, tt.wantTruncated)
			}
			if tt.wantTruncated && !bytes.Contains(text, []byte("Read more on the web:\nhttps://news.example.org/latest")) {
				t.Error("text part lacks the web link")
			}
			if !bytes.Contains(html, []byte("Unsubscribe</a>")) {
				t.Error("footer lost")
			}
			if rd.PerTopic > tt.maxPerTopic {
				t.Errorf("PerTopic %d over max_per_topic %d", rd.PerTopic, tt.maxPerTopic)
			}
		})
	}
	t.Run("too small a budget is an error", func(t *testing.T) {
		r := newTestRenderer(t, func(o *Options) { o.Theme.MaxHTMLBytes = 10 * 1024 })
		d := bigDigest(60)
		for i := range d.Topics {
			d.Topics[i].Name = strings.Repeat("Very long topic name ", 60)
		}
		if _, err := r.Render(d, nil); err == nil {
			t.Error("want an error when nothing fits")
		}
	})
}

func TestTextWraps(t *testing.T) {
	r := newTestRenderer(t, nil)
	urlLine := regexp.MustCompile(`^\s*(- [^:]+: )?https?://\S+$`)
	for _, d := range []*digest.Digest{fixtureDigest(), bigDigest(60)} {
		rd, err := r.Render(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, text := rd.Personalize(testRecipient)
		for i, line := range strings.Split(string(text), "\n") {
			if utf8.RuneCountInString(line) > 78 && !urlLine.MatchString(line) {
				t.Errorf("line %d is %d columns: %q", i+1, utf8.RuneCountInString(line), line)
			}
		}
	}
}

func TestWrapText(t *testing.T) {
	long := "https://example.org/" + strings.Repeat("x", 90)
	tests := []struct{ name, in, want string }{
		{"short", "hello\n", "hello\n"},
		{"wraps with indent", "  " + strings.Repeat("word ", 20), "  " + strings.TrimSpace(strings.Repeat("word ", 15)) + "\n  " + strings.TrimSpace(strings.Repeat("word ", 5)) + "\n"},
		{"bullet hangs", "* " + strings.Repeat("abc ", 25), "* " + strings.TrimSpace(strings.Repeat("abc ", 19)) + "\n  " + strings.TrimSpace(strings.Repeat("abc ", 6)) + "\n"},
		{"url alone", "see " + long, "see\n" + long + "\n"},
		{"blank runs squeezed", "a\n\n\n\nb\n", "a\n\nb\n"},
		{"signature separator kept", "x\n-- \ny", "x\n-- \ny\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wrapText(tt.in, 78); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestPersonalize(t *testing.T) {
	r := newTestRenderer(t, nil)
	rd, err := r.Render(fixtureDigest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name               string
		p                  Recipient
		wantHTML, wantText []string
		notHTML            []string
	}{
		{
			name:     "name with markup is escaped in HTML, raw in text",
			p:        Recipient{Name: `<b>"Tom" & Jerry</b>`, Email: "t&j@example.org", UnsubscribeURL: "https://x.example/u?a=1&b=2", PreferencesURL: "https://x.example/p"},
			wantHTML: []string{`Hi &lt;b&gt;&#34;Tom&#34; &amp; Jerry&lt;/b&gt;,`, `sent to t&amp;j@example.org.`, `href="https://x.example/u?a=1&amp;b=2"`},
			wantText: []string{`Hi <b>"Tom" & Jerry</b>,`, "Unsubscribe:\nhttps://x.example/u?a=1&b=2\n"},
			notHTML:  []string{`<b>"Tom"`},
		},
		{
			name:     "no name uses the fallback",
			p:        Recipient{Email: "a@example.org", UnsubscribeURL: "https://x.example/u", PreferencesURL: "https://x.example/p"},
			wantHTML: []string{"Hi there,"},
			wantText: []string{"Hi there,"},
		},
		{
			name:     "unsafe links become the base URL",
			p:        Recipient{Name: "A\r\nBcc: x", UnsubscribeURL: "javascript:alert(1)", PreferencesURL: ""},
			wantHTML: []string{`Hi A Bcc: x,`, `<a href="https://news.example.org" style="color:#1a5fb4">Unsubscribe</a>`},
			wantText: []string{"Unsubscribe:\nhttps://news.example.org\n"},
			notHTML:  []string{"javascript:"},
		},
		{
			name:     "long name is cut",
			p:        Recipient{Name: strings.Repeat("é", 100), UnsubscribeURL: "https://x.example/u", PreferencesURL: "https://x.example/p"},
			wantHTML: []string{"Hi " + strings.Repeat("é", 64) + ","},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			html, text := rd.Personalize(tt.p)
			for _, w := range tt.wantHTML {
				if !bytes.Contains(html, []byte(w)) {
					t.Errorf("HTML lacks %q", w)
				}
			}
			for _, w := range tt.wantText {
				if !bytes.Contains(text, []byte(w)) {
					t.Errorf("text lacks %q", w)
				}
			}
			for _, w := range tt.notHTML {
				if bytes.Contains(html, []byte(w)) {
					t.Errorf("HTML contains %q", w)
				}
			}
			if len(html) > rd.HTMLSize() {
				t.Errorf("html %d bytes over the worst case %d", len(html), rd.HTMLSize())
			}
			if bytes.Contains(html, []byte("zq")) && regexp.MustCompile(`zq[0-9a-f]{16}[neup]qz`).Match(append(html, text...)) {
				t.Error("a sentinel was left unreplaced")
			}
		})
	}
	t.Run("results do not alias", func(t *testing.T) {
		h1, t1 := rd.Personalize(Recipient{Name: "One"})
		h2, _ := rd.Personalize(Recipient{Name: "Two"})
		h1 = append(h1, "tail"...)
		if bytes.HasPrefix(t1, []byte("tail")) || !bytes.Contains(h1, []byte("Hi One,")) || !bytes.Contains(h2, []byte("Hi Two,")) {
			t.Error("outputs share memory")
		}
	})
}

func TestSentinelInContentStaysText(t *testing.T) {
	r := newTestRenderer(t, nil)
	d := fixtureDigest()
	// A feed cannot know the per-render nonce; a look-alike stays as text.
	d.Topics[3].Articles[0].Summary = "zq0123456789abcdefnqz"
	rd, err := r.Render(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	html, text := rd.Personalize(testRecipient)
	for _, b := range [][]byte{html, text} {
		if !bytes.Contains(b, []byte("zq0123456789abcdefnqz")) {
			t.Error("look-alike sentinel was replaced")
		}
	}
}

func TestOverrides(t *testing.T) {
	t.Run("file replaces the embedded one", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "email.txt.tmpl", "CUSTOM {{.Title}} for {{.Recipient.Name}}\nUnsubscribe: {{.Recipient.UnsubscribeURL}}\n")
		r := newTestRenderer(t, func(o *Options) { o.TemplatesDir = dir })
		rd, err := r.Render(fixtureDigest(), nil)
		if err != nil {
			t.Fatal(err)
		}
		html, text := rd.Personalize(testRecipient)
		if want := "CUSTOM The Region Brief for Ana Lima\nUnsubscribe: " + testRecipient.UnsubscribeURL + "\n"; string(text) != want {
			t.Errorf("text = %q, want %q", text, want)
		}
		if !bytes.Contains(html, []byte("Top stories")) {
			t.Error("HTML should still come from the embedded template")
		}
	})
	t.Run("partial override", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "subjects.txt.tmpl", `{{define "subject"}}Brief #{{.DateISO}}{{end}}{{define "confirm_subject"}}Confirm{{end}}{{define "fallback_name"}}friend{{end}}`)
		r := newTestRenderer(t, func(o *Options) { o.TemplatesDir = dir })
		rd, err := r.Render(fixtureDigest(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if rd.Subject != "Brief #2026-11-25" {
			t.Errorf("subject = %q", rd.Subject)
		}
		if html, _ := rd.Personalize(Recipient{}); !bytes.Contains(html, []byte("Hi friend,")) {
			t.Error("fallback name not overridden")
		}
	})

	tests := []struct {
		name, file, content string
		want                []string
	}{
		{"parse error names file and line", "email.html.tmpl", "<html>\n<body>\n{{if .Title}}\n</body>\n", []string{"render: template ", "email.html.tmpl:", "unexpected EOF"}},
		{"unknown function", "email.txt.tmpl", "line one\nline two\n{{frobnicate .Title}}\n", []string{"email.txt.tmpl:3:", "frobnicate"}},
		{"execution error at start-up", "email.txt.tmpl", "ok\n{{.NoSuchField}}\n", []string{"email.txt.tmpl:2:", "NoSuchField"}},
		{"html escaping error", "confirm.html.tmpl", "<p>\n<a href=\"{{.ConfirmURL}}\n", []string{"confirm.html.tmpl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tt.file, tt.content)
			o := testOptions()
			o.TemplatesDir = dir
			_, err := New(o)
			if err == nil {
				t.Fatal("New accepted a broken template")
			}
			msg := err.Error()
			if !strings.Contains(msg, filepath.Join(dir, tt.file)) {
				t.Errorf("error %q does not name %s", msg, filepath.Join(dir, tt.file))
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
	t.Run("missing folder", func(t *testing.T) {
		o := testOptions()
		o.TemplatesDir = filepath.Join(t.TempDir(), "nope")
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), "templates_dir") {
			t.Errorf("err = %v", err)
		}
	})
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAccentContrast(t *testing.T) {
	lbg, _ := parseHex(lightBg)
	dbg, _ := parseHex(darkBg)
	white, _ := parseHex("#ffffff")
	for _, c := range []string{"#1a5fb4", "#ffcc00", "#00ff00", "#000000", "#ffffff", "#e01b24", "#abc"} {
		t.Run(c, func(t *testing.T) {
			l, d, err := accentPair(c)
			if err != nil {
				t.Fatal(err)
			}
			lc, _ := parseHex(l)
			dc, _ := parseHex(d)
			if got := contrast(lc, lbg); got < minContrast {
				t.Errorf("light %s on %s: %.2f", l, lightBg, got)
			}
			if got := contrast(lc, white); got < minContrast {
				t.Errorf("white on %s: %.2f", l, got)
			}
			if got := contrast(dc, dbg); got < minContrast {
				t.Errorf("dark %s on %s: %.2f", d, darkBg, got)
			}
		})
	}
	if l, _, _ := accentPair("#1a5fb4"); l != "#1a5fb4" {
		t.Errorf("a passing accent was changed to %s", l)
	}
	if _, _, err := accentPair("blue"); err == nil {
		t.Error("want an error for a non-hex colour")
	}
}

func TestPreviewPage(t *testing.T) {
	r := newTestRenderer(t, nil)
	rd, err := r.Render(fixtureDigest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	page := string(r.PreviewPage(rd, testRecipient))
	for _, w := range []string{
		`<iframe title="Email in light mode" srcdoc="&lt;!DOCTYPE html&gt;`,
		`<iframe class="dark" title="Email in dark mode" srcdoc=`,
		`iframe.dark{color-scheme:dark`,
		`@media all{`,
		"<pre>THE REGION BRIEF\n",
		`Feeds sometimes carry &lt;script&gt;`,
	} {
		if !strings.Contains(page, w) {
			t.Errorf("preview lacks %q", w)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("preview contains a script tag")
	}
}

func TestConfirmation(t *testing.T) {
	r := newTestRenderer(t, nil)
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"https://news.example.org/confirm?token=a&b", false},
		{"javascript:alert(1)", true},
		{"mailto:x@example.org", true},
		{"", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, html, text, err := r.Confirmation(tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !bytes.Contains(html, []byte(`href="https://news.example.org/confirm?token=a&amp;b"`)) {
				t.Error("HTML lacks the escaped link")
			}
			if !bytes.Contains(text, []byte("\nhttps://news.example.org/confirm?token=a&b\n")) {
				t.Error("text lacks the link on its own line")
			}
			if !bytes.Contains(html, []byte(`content="light dark"`)) {
				t.Error("confirmation lacks the color-scheme meta")
			}
		})
	}
}

func TestMissingDefine(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "subjects.txt.tmpl", `{{define "confirm_subject"}}x{{end}}`)
	o := testOptions()
	o.TemplatesDir = dir
	_, err := New(o)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "subjects.txt.tmpl")) || !strings.Contains(err.Error(), `"subject"`) {
		t.Errorf("err = %v", err)
	}
}

func TestPartsWithValuesMatchPersonalize(t *testing.T) {
	r := newTestRenderer(t, nil)
	rd, err := r.Render(fixtureDigest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fill := func(segs []Segment, vals []string) []byte {
		var b []byte
		for _, s := range segs {
			b = append(b, s.Text...)
			if s.Slot != 0 {
				b = append(b, vals[s.Slot]...)
			}
		}
		return b
	}
	htmlParts, textParts := rd.Parts()
	slots := 0
	for _, s := range htmlParts {
		if s.Slot != 0 {
			slots++
		}
	}
	if slots < 3 {
		t.Fatalf("%d slots in the HTML part: want the name and both links at least", slots)
	}
	for _, p := range []Recipient{testRecipient, {Name: `<&"'>`, Email: "a&b@example.org", UnsubscribeURL: "javascript:x"}, {}} {
		html, text := rd.Personalize(p)
		hv, tv := rd.Values(p)
		if got := fill(htmlParts, hv); !bytes.Equal(got, html) {
			t.Errorf("HTML from Parts and Values differs from Personalize for %+v", p)
		}
		if got := fill(textParts, tv); !bytes.Equal(got, text) {
			t.Errorf("text from Parts and Values differs from Personalize for %+v", p)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	r := newTestRenderer(t, nil)
	rd, err := r.Render(fixtureDigest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := rd.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Rendered
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	h1, t1 := rd.Personalize(testRecipient)
	h2, t2 := back.Personalize(testRecipient)
	if !bytes.Equal(h1, h2) || !bytes.Equal(t1, t2) || back.Subject != rd.Subject || back.HTMLSize() != rd.HTMLSize() {
		t.Error("round trip changed the output")
	}
	for _, bad := range []string{`{"v":2}`, `{"v":1,"html":[{"l":"x","s":9}]}`, `not json`} {
		if err := new(Rendered).UnmarshalBinary([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestTopicSetKey(t *testing.T) {
	tests := []struct {
		a, b []string
		same bool
	}{
		{nil, []string{}, true},
		{[]string{"Sport", "World"}, []string{"world", " sport", "Sport"}, true},
		{[]string{"Sport"}, []string{"World"}, false},
		{nil, []string{"Sport"}, false},
	}
	for _, tt := range tests {
		if got := TopicSetKey(tt.a) == TopicSetKey(tt.b); got != tt.same {
			t.Errorf("TopicSetKey(%q) == TopicSetKey(%q) is %v", tt.a, tt.b, got)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	r := newTestRenderer(t, nil)
	done := make(chan []byte)
	for i := 0; i < 4; i++ {
		go func() {
			rd, err := r.Render(fixtureDigest(), nil)
			if err != nil {
				done <- nil
				return
			}
			h, _ := rd.Personalize(testRecipient)
			done <- h
		}()
	}
	var first []byte
	for i := 0; i < 4; i++ {
		h := <-done
		if h == nil {
			t.Fatal("render failed")
		}
		if first == nil {
			first = h
		} else if !bytes.Equal(first, h) {
			t.Error("concurrent renders differ")
		}
	}
}
