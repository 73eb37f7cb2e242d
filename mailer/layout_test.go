package mailer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

// testLayout has slots in both parts: 1 a name, 2 an unsubscribe link.
func testLayout(t testing.TB) *Layout {
	t.Helper()
	long := strings.Repeat("A paragraph of the digest with ünïcode, “quotes” and = signs. ", 40)
	l, err := NewLayout(Template{
		From: "The Brief <brief@example.org>", ReplyTo: "editor@example.org",
		Subject: "The Brief, issue 12 — Tuesday", Date: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC),
		ListID: "The Brief <brief.example.org>", Headers: map[string]string{"X-Digest-Issue": "12"},
		Text: []Segment{{Text: []byte("Hello "), Slot: 1}, {Text: []byte(",\n\n" + long + "\n\nUnsubscribe: "), Slot: 2}, {Text: []byte("\n")}},
		HTML: []Segment{{Text: []byte(`<p>Hello `), Slot: 1}, {Text: []byte(`,</p><p>` + long + `</p><a href="`), Slot: 2}, {Text: []byte(`">Unsubscribe</a>`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testCopy(l *Layout, i int, name string) *Copy {
	unsub := fmt.Sprintf("https://news.example.org/unsubscribe?token=%s%d", strings.Repeat("t0K", 30), i)
	return &Copy{
		Layout: l, To: (&mail.Address{Name: name, Address: rcpt(i)}).String(),
		MessageID:      fmt.Sprintf("issue-12.sub-%d@example.org", i),
		UnsubscribeURL: unsub, UnsubscribeMailto: fmt.Sprintf("mailto:u@example.org?subject=%d", i),
		Text: []string{"", name, unsub},
		HTML: []string{"", strings.ReplaceAll(name, "&", "&amp;"), strings.ReplaceAll(unsub, "&", "&amp;")},
	}
}

// parts decodes a multipart/alternative message's text and HTML.
func parts(t *testing.T, data []byte) (mail.Header, map[string]string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = string(b)
	}
	return msg.Header, out
}

// Every copy of one layout, sent through Deliver and DKIM-signed, verifies
// and carries its own recipient's values, in both parts, as if built
// alone.
func TestLayoutCopiesSignedAndPersonalised(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	txt := txtRecord(t, key.Public())
	s := smtptest.Start(t)
	m := newTestMailer(t, s, func(o *Options) {
		o.DKIM = &DKIMOptions{Domain: "example.org", Selector: "brief2026", Signer: key}
	})
	l := testLayout(t)
	names := []string{"Ana Lima", "Zoë & Ülrich", "", "-- .dot From me", strings.Repeat("Long Name ", 8)}
	jobs := make(chan Job, len(names))
	for i, name := range names {
		jobs <- Job{ID: int64(i), Msg: testCopy(l, i, name)}
	}
	close(jobs)
	for r := range m.Deliver(context.Background(), jobs) {
		if r.Err != nil {
			t.Fatalf("job %d: %v", r.ID, r.Err)
		}
	}
	got := map[string]smtptest.Message{}
	for _, msg := range s.Messages() {
		got[msg.To[0]] = msg
	}
	for i, name := range names {
		msg, ok := got[rcpt(i)]
		if !ok {
			t.Fatalf("%s got nothing", rcpt(i))
		}
		verifyDKIM(t, msg.Data, txt)
		built, err := m.Build(testCopy(l, i, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(built, msg.Data) {
			t.Errorf("%s: Build differs from what was sent", rcpt(i))
		}
		for _, line := range strings.Split(string(msg.Data), "\r\n") {
			if len(line) > 998 {
				t.Errorf("line of %d bytes", len(line))
			}
		}
		h, ps := parts(t, msg.Data)
		c := testCopy(l, i, name)
		if to, err := mail.ParseAddress(h.Get("To")); err != nil || to.Address != rcpt(i) || to.Name != name {
			t.Errorf("To %q (%v)", h.Get("To"), err)
		}
		if h.Get("Message-Id") != "<"+c.MessageID+">" || h.Get("List-Unsubscribe") != "<"+c.UnsubscribeURL+">, <"+c.UnsubscribeMailto+">" ||
			h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || h.Get("X-Digest-Issue") != "12" || h.Get("List-Id") != "The Brief <brief.example.org>" {
			t.Errorf("%s: headers %v", rcpt(i), h)
		}
		wantText := "Hello " + name + ",\r\n\r\n"
		if !strings.HasPrefix(ps["text/plain"], wantText) || !strings.HasSuffix(ps["text/plain"], "Unsubscribe: "+c.UnsubscribeURL+"\r\n") {
			t.Errorf("%s: text part %q", rcpt(i), ps["text/plain"])
		}
		if !strings.HasPrefix(ps["text/html"], "<p>Hello "+c.HTML[1]+",</p>") || !strings.HasSuffix(ps["text/html"], `<a href="`+c.UnsubscribeURL+`">Unsubscribe</a>`) {
			t.Errorf("%s: HTML part %q", rcpt(i), ps["text/html"])
		}
	}
}

func TestCopyRefusals(t *testing.T) {
	l := testLayout(t)
	m := newTestMailer(t, smtptest.Start(t), nil)
	tests := []struct {
		name      string
		edit      func(*Copy)
		recipient bool // the recipient's fault (permanent), not the caller's
	}{
		{"bad To", func(c *Copy) { c.To = "no address" }, true},
		{"values missing", func(c *Copy) { c.HTML = c.HTML[:2] }, false},
		{"no layout", func(c *Copy) { c.Layout = nil }, false},
		{"bad Message-ID", func(c *Copy) { c.MessageID = "<x@y>" }, false},
		{"bad unsubscribe URL", func(c *Copy) { c.UnsubscribeURL = "javascript:alert(1)" }, false},
		{"bad envelope sender", func(c *Copy) { c.EnvelopeFrom = "Bounces <b@example.org>" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCopy(l, 1, "Ana")
			tt.edit(c)
			_, err := m.Build(c)
			if err == nil {
				t.Fatal("built")
			}
			var re recipientError
			if errors.As(err, &re) != tt.recipient {
				t.Errorf("%v: recipient's fault %v, want %v", err, errors.As(err, &re), tt.recipient)
			}
		})
	}
	for _, tt := range []struct {
		name string
		t    Template
	}{
		{"no body", Template{From: "a@example.org"}},
		{"bad From", Template{From: "nobody", Text: []Segment{{Text: []byte("x")}}}},
		{"bad List-Id", Template{From: "a@example.org", ListID: "no id", Text: []Segment{{Text: []byte("x")}}}},
		{"header name with a dot first", Template{From: "a@example.org", Headers: map[string]string{".X": "y"}, Text: []Segment{{Text: []byte("x")}}}},
		{"header value with a line break", Template{From: "a@example.org", Headers: map[string]string{"X-A": "a\r\nBcc: x@y"}, Text: []Segment{{Text: []byte("x")}}}},
	} {
		if _, err := NewLayout(tt.t); err == nil {
			t.Errorf("%s: laid out", tt.name)
		}
	}
}

// BenchmarkCopy is one recipient's message from a shared layout of a
// digest-sized message: the per-recipient cost of building.
func BenchmarkCopy(b *testing.B) {
	msg := benchMessage(1)
	l, err := NewLayout(Template{From: msg.From, Subject: msg.Subject, ListID: msg.ListID,
		Text: []Segment{{Text: []byte("Hello "), Slot: 1}, {Text: msg.Text, Slot: 2}, {}},
		HTML: []Segment{{Text: []byte("<p>Hello "), Slot: 1}, {Text: msg.HTML, Slot: 2}, {}}})
	if err != nil {
		b.Fatal(err)
	}
	c := testCopy(l, 1, "Ana Lima")
	m := newTestMailer(b, benchServer(b), nil)
	b.SetBytes(int64(len(msg.HTML) + len(msg.Text)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		if buf, _, err = m.compose(buf[:0], c); err != nil {
			b.Fatal(err)
		}
	}
}
