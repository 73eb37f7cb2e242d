package htmltext

import (
	"html"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		in, text, image string
	}{
		{"<p>Hello <b>world</b></p><p>Again</p>", "Hello world\n\nAgain", ""},
		{"Fish &amp;amp; chips", "Fish & chips", ""},
		{"<script>alert(1)</script>Safe", "Safe", ""},
		{"<style>p{color:red}</style><p>Styled</p>", "Styled", ""},
		{"a\u00a0\u00a0b\n\tc", "a b c", ""},
		{"x &lt;b&gt;y", "x y", ""},
		{"&lt;p&gt;Escaped &amp;lt;i&amp;gt;twice&amp;lt;/i&amp;gt;&lt;/p&gt;", "Escaped twice", ""},
		{"Price &amp;#163;300m", "Price £300m", ""},
		{"one<br>two<br/>three", "one\n\ntwo\n\nthree", ""},
		{"line one\nline two\n\nnext para", "line one line two\n\nnext para", ""},
		{`<p><img src="/a.jpg" width="640"> Caption</p><img src="/b.jpg">`, "Caption", "/a.jpg"},
		{`<img src="https://t.example/pixel.gif" width="1" height="1"><img src="data:image/png;base64,xx"><img src="/real.png">`, "", "/real.png"},
		{`<iframe src="x">inside</iframe><noscript>no</noscript>kept`, "kept", ""},
		{`<ul><li>one</li><li>two</li></ul>`, "one\n\ntwo", ""},
		{"a < b and c > d", "a < b and c > d", ""},
		{"bad \xff byte", "bad \uFFFD byte", ""},
		{"<svg><text>chart</text></svg>After", "After", ""},
		{"<!-- comment -->Visible", "Visible", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := Convert(tt.in, 0)
			if d.Text != tt.text || d.Image != tt.image {
				t.Errorf("Convert(%q) = %q, image %q; want %q, image %q", tt.in, d.Text, d.Image, tt.text, tt.image)
			}
		})
	}
}

func TestLine(t *testing.T) {
	for in, want := range map[string]string{
		"<p>Title</p><p>More</p>":                  "Title More",
		"  Padded\n\n title ":                      "Padded title",
		"Rupee <span class='webrupee'>₹</span>500": "Rupee ₹500",
	} {
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConvertCap: the pass stops at the cap, at a word boundary.
func TestConvertCap(t *testing.T) {
	long := strings.Repeat("<p>alpha beta gamma delta</p>", 1000)
	d := Convert(long, 100)
	if !d.Cut || len(d.Text) < 100 || len(d.Text) > 130 {
		t.Fatalf("cut %v, %d bytes: %q", d.Cut, len(d.Text), d.Text)
	}
	if strings.HasSuffix(d.Text, " ") || !strings.HasSuffix(d.Text, "alpha") && !strings.HasSuffix(d.Text, "beta") &&
		!strings.HasSuffix(d.Text, "gamma") && !strings.HasSuffix(d.Text, "delta") {
		t.Errorf("not cut at a word: %q", d.Text)
	}
	blob := strings.Repeat("x", 100000)
	if d := Convert(blob, 100); len(d.Text) > 100+hardCap || !d.Cut {
		t.Errorf("a giant word ran to %d bytes", len(d.Text))
	}
	if d := Convert("short text", 100); d.Cut || d.Text != "short text" {
		t.Errorf("short text: %+v", d)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"one two three four five", 13, "one two…"},
		{"one two three", 13, "one two three"},
		{"abcdefghijklmnop", 5, "abcd…"},
		{"Ünïcödé wörds hére", 10, "Ünïcödé…"},
		{"Hello, world again", 8, "Hello…"},
		{"x", 0, "x"},
	}
	for _, tt := range tests {
		if got := Truncate(tt.in, tt.max); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	long := strings.Repeat("Ünïcödé wörds\n\nhére ", 500)
	if got, want := Summary(long, 30), Truncate(OneLine(long), 30); got != want {
		t.Errorf("Summary of a long text = %q, want %q", got, want)
	}
	if got := Summary("One.\n\nTwo.", 50); got != "One. Two." {
		t.Errorf("Summary = %q", got)
	}
	if got := Summary("exactly ten", 11); got != "exactly ten" {
		t.Errorf("Summary = %q", got)
	}
}

func TestTitleFromText(t *testing.T) {
	for in, want := range map[string]string{
		"Short first sentence. Then more text follows here.": "Short first sentence",
		"Is it a question? Yes.":                             "Is it a question?",
		strings.Repeat("word ", 40):                          "word word word word word word word word word word word word word word word word word…",
		"":                                                   "",
	} {
		if got := TitleFromText(in); got != want {
			t.Errorf("TitleFromText(%q) = %q, want %q", in, got, want)
		}
	}
}

// strict is bluemonday's text-only policy, the reference for "no markup".
var strict = bluemonday.StrictPolicy()

// noMarkup checks the package's promise against bluemonday: the text holds
// nothing bluemonday's strict policy would remove.
func noMarkup(t *testing.T, in, out string) {
	t.Helper()
	// Text without markup is one text token: bluemonday gives it back
	// whole, decoded and escaped again.
	if got, want := strict.Sanitize(out), html.EscapeString(html.UnescapeString(out)); got != want {
		t.Errorf("Convert(%q) = %q still holds markup (bluemonday: %q)", in, out, got)
	}
	if !utf8.ValidString(out) {
		t.Errorf("Convert(%q) = %q: invalid UTF-8", in, out)
	}
}

func TestNoMarkupSurvives(t *testing.T) {
	for _, in := range []string{
		`<a href="javascript:alert(1)">x</a>`, `<img src=x onerror=alert(1)>`, `&lt;script&gt;alert(1)&lt;/script&gt;`,
		`&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;`, `<scr<script>ipt>alert(1)</script>`,
		`<<b>i>nested</b>`, "<p>ok</p><", "<b", `<div style="x">y</div>`,
	} {
		noMarkup(t, in, Convert(in, 0).Text)
		noMarkup(t, in, Line(in))
	}
}

func FuzzConvert(f *testing.F) {
	for _, s := range []string{"<p>Hello <b>world</b></p>", "&amp;lt;i&amp;gt;x", "<script>x</script>y", "a\u00a0b", "<img src=/x.png>"} {
		f.Add(s, 50)
	}
	f.Fuzz(func(t *testing.T, in string, max int) {
		max = max % 4096
		if max < 0 {
			max = -max
		}
		d := Convert(in, max)
		noMarkup(t, in, d.Text)
		if max > 0 && len(d.Text) > max+hardCap+8 {
			t.Errorf("%d bytes past a cap of %d", len(d.Text), max)
		}
		if strings.HasPrefix(d.Text, " ") || strings.HasSuffix(d.Text, " ") || strings.Contains(d.Text, "\n\n\n") {
			t.Errorf("whitespace not collapsed: %q", d.Text)
		}
	})
}

func TestEscapedManyTimes(t *testing.T) {
	in := "<b>bold</b>"
	for range 12 {
		in = html.EscapeString(in)
	}
	noMarkup(t, in, Convert(in, 0).Text)
}
