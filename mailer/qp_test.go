package mailer

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// crlf turns every line break of s (LF, CRLF, lone CR) into CRLF, as
// decoding quoted-printable gives them back.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// checkQP asserts enc is valid quoted-printable for our rules and decodes
// to want.
func checkQP(t *testing.T, enc []byte, want string) {
	t.Helper()
	if got := decodeQP(t, enc); got != crlf(want) {
		t.Errorf("decodes to %q, want %q (encoded %q)", got, crlf(want), enc)
	}
}

// decodeQP checks enc's lines and decodes it.
func decodeQP(t *testing.T, enc []byte) string {
	t.Helper()
	if bytes.Count(enc, []byte("\n")) != bytes.Count(enc, []byte("\r\n")) || bytes.Count(enc, []byte("\r")) != bytes.Count(enc, []byte("\r\n")) {
		t.Fatalf("line breaks other than CRLF in %q", enc)
	}
	for _, line := range strings.Split(string(enc), "\r\n") {
		if len(line) > 76 {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "-") || strings.HasPrefix(line, "From ") {
			t.Errorf("line starts badly: %q", line)
		}
		if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
			t.Errorf("trailing whitespace: %q", line)
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if (c < ' ' && c != '\t') || c > '~' {
				t.Fatalf("raw byte %#x in %q", c, line)
			}
		}
	}
	got, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
	if err != nil {
		t.Fatalf("decoding %q: %v", enc, err)
	}
	return string(got)
}

func TestAppendQP(t *testing.T) {
	long := strings.Repeat("abcdefghij", 20)
	tests := []string{
		"",
		"plain text",
		"trailing space \nand tab\t\nend space ",
		".dot\n..two\n-dash\n--boundary-like\nFrom me\nFrom\nFromage",
		"a=b ü € \x00\x7f",
		"crlf\r\nlone cr\rlf\n\n",
		long,
		strings.Repeat("é", 60),
		strings.Repeat(" ", 80) + "\n",
		strings.Repeat("x", 74) + " \n" + strings.Repeat("x", 75) + "\t",
		strings.Repeat("x", 75) + ".y",
		strings.Repeat("x", 75) + "From here",
		strings.Repeat("x", 73) + "=" + strings.Repeat("y", 10),
	}
	for _, in := range tests {
		enc, atStart := appendQP(nil, in)
		checkQP(t, enc, in)
		if atStart != (len(enc) == 0 || bytes.HasSuffix(enc, []byte("\n"))) {
			t.Errorf("%q: at line start %v for %q", in, atStart, enc)
		}
		encB, _ := appendQP(nil, []byte(in))
		if !bytes.Equal(enc, encB) {
			t.Errorf("string and []byte encodings differ for %q", in)
		}
	}
}

// FuzzLayoutBody lays out a text part of two literals around a slot,
// fills the slot and checks the part's bytes: valid quoted-printable,
// lines within 76 characters, nothing SMTP or MIME would misread, and
// decoding gives the literals and the value back.
func FuzzLayoutBody(f *testing.F) {
	f.Add("Hello ", "Reader", "!\n.\n-- \nFrom x")
	f.Add(strings.Repeat("x", 75), " ", strings.Repeat("y", 80)+" ")
	f.Add("", "", "")
	f.Add("a\r", "", "\nb")
	f.Fuzz(func(t *testing.T, a, v, b string) {
		l, err := NewLayout(Template{From: "a@example.org", Subject: "s", Text: []Segment{{Text: []byte(a), Slot: 1}, {Text: []byte(b)}}})
		if err != nil {
			t.Fatal(err)
		}
		data, _, err := (&Copy{Layout: l, To: "r@example.net", MessageID: "m@example.org", Text: []string{"", v}}).appendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(data, []byte("\r\n\r\n"))
		body := data[i+4:]
		// Each piece is encoded on its own: a CR ending one and an LF
		// starting the next are two line breaks.
		want := crlf(a) + crlf(v) + crlf(b)
		// appendTo ends the message with a line break, which a part that
		// ended mid-line did not have.
		got := decodeQP(t, body)
		if got != want && got != want+"\r\n" {
			t.Errorf("decodes to %q, want %q (encoded %q)", got, want, body)
		}
	})
}
