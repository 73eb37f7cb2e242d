package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/url"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one personalised email: one recipient, both bodies, and the
// list headers every newsletter message carries.
type Message struct {
	From, To, ReplyTo, Subject string // From/To as RFC 5322 addresses ("Name <a@b>")
	Date                       time.Time
	// MessageID is written as <MessageID>; the caller derives it from issue
	// and subscriber (issue-12.sub-345@example.org) so a resend is recognisable.
	MessageID string
	HTML      []byte // with Text: multipart/alternative
	Text      []byte
	ListID    string // "The Brief <brief.example.org>"
	// UnsubscribeURL becomes List-Unsubscribe plus "List-Unsubscribe-Post:
	// List-Unsubscribe=One-Click" (RFC 8058). An http:// URL is still written
	// (local testing) but Gmail and Yahoo ignore one-click without https.
	UnsubscribeURL    string
	UnsubscribeMailto string // optional mailto: URI, listed after the URL
	// EnvelopeFrom is the MAIL FROM address (a VERP bounce address); by
	// default the address of From.
	EnvelopeFrom string
	Headers      map[string]string // extra headers (Auto-Submitted, X-Digest-Issue, ...)
}

// recipientError marks a message that cannot be built because of its
// recipient's address: permanent for that recipient alone.
type recipientError struct{ error }

func (e recipientError) Unwrap() error { return e.error }

// envelope is the SMTP transaction's addresses.
type envelope struct {
	from, to string
}

func (msg *Message) envelope() (envelope, error) {
	to, err := mail.ParseAddress(msg.To)
	if err != nil {
		return envelope{}, recipientError{fmt.Errorf("mailer: To %q: %w", msg.To, err)}
	}
	from := msg.EnvelopeFrom
	if from == "" {
		f, err := mail.ParseAddress(msg.From)
		if err != nil {
			return envelope{}, fmt.Errorf("mailer: From %q: %w", msg.From, err)
		}
		from = f.Address
	} else if strings.ContainsAny(from, "<> \r\n") || !strings.Contains(from, "@") {
		return envelope{}, fmt.Errorf("mailer: EnvelopeFrom %q: not a bare address", from)
	}
	return envelope{from: from, to: to.Address}, nil
}

// build renders msg with go-mail into unsigned bytes, appended to buf
// (workers reuse one buffer for all their messages).
func build(buf *bytes.Buffer, msg *Message) ([]byte, error) {
	if len(msg.HTML) == 0 && len(msg.Text) == 0 {
		return nil, fmt.Errorf("mailer: message to %q has no body", msg.To)
	}
	if err := checkMessageID(msg.MessageID); err != nil {
		return nil, err
	}
	boundary := mimeBoundary(msg)
	m := gomail.NewMsg(gomail.WithBoundary(boundary), gomail.WithNoDefaultUserAgent())
	if err := m.From(msg.From); err != nil {
		return nil, fmt.Errorf("mailer: From %q: %w", msg.From, err)
	}
	if err := m.To(msg.To); err != nil {
		return nil, recipientError{fmt.Errorf("mailer: To %q: %w", msg.To, err)}
	}
	if msg.ReplyTo != "" {
		if err := m.ReplyTo(msg.ReplyTo); err != nil {
			return nil, fmt.Errorf("mailer: Reply-To %q: %w", msg.ReplyTo, err)
		}
	}
	m.Subject(msg.Subject)
	date := msg.Date
	if date.IsZero() {
		date = time.Now()
	}
	m.SetDateWithValue(date)
	m.SetMessageIDWithValue(msg.MessageID)

	// Every list header goes through SetGenHeader so go-mail writes them
	// sorted, not in map order.
	if msg.ListID != "" {
		v, err := listID(msg.ListID)
		if err != nil {
			return nil, err
		}
		m.SetGenHeader(gomail.Header("List-Id"), v)
	}
	if msg.UnsubscribeURL != "" || msg.UnsubscribeMailto != "" {
		v, post, err := listUnsubscribe(msg.UnsubscribeURL, msg.UnsubscribeMailto)
		if err != nil {
			return nil, err
		}
		// Not SetListUnsubscribeOneClick: it refuses http:// (local tests)
		// and writes extra URIs unchecked; both are validated above.
		m.SetGenHeader(gomail.HeaderListUnsubscribe, v)
		if post {
			m.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
		}
	}
	for k, v := range msg.Headers {
		if err := checkHeader(k, v); err != nil {
			return nil, err
		}
		m.SetGenHeader(gomail.Header(k), v)
	}

	// Writers instead of SetBodyString: no string copy of each body.
	switch {
	case len(msg.Text) > 0 && len(msg.HTML) > 0:
		m.SetBodyWriter(gomail.TypeTextPlain, bytesWriter(msg.Text))
		m.AddAlternativeWriter(gomail.TypeTextHTML, bytesWriter(msg.HTML))
	case len(msg.Text) > 0:
		m.SetBodyWriter(gomail.TypeTextPlain, bytesWriter(msg.Text))
	default:
		m.SetBodyWriter(gomail.TypeTextHTML, bytesWriter(msg.HTML))
	}
	buf.Reset()
	// Quoted-printable grows text a little and non-ASCII a lot.
	buf.Grow(len(msg.HTML)*5/4 + len(msg.Text)*5/4 + 4096)
	if _, err := m.WriteTo(buf); err != nil {
		return nil, fmt.Errorf("mailer: write message: %w", err)
	}
	return buf.Bytes(), nil
}

func bytesWriter(b []byte) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := w.Write(b)
		return int64(n), err
	}
}

// mimeBoundary derives the multipart boundary from the Message-ID, so Build
// is byte-for-byte reproducible (a resumed send writes the same message). A
// Message-ID is predictable, so a body that happens (or was made) to contain
// that boundary gets one hashed from the body itself, which no body can
// contain. go-mail writes the boundary unquoted: it must be a plain token.
func mimeBoundary(msg *Message) string {
	h := sha256.Sum256([]byte(msg.MessageID))
	b := "digest" + hex.EncodeToString(h[:16])
	if !bytes.Contains(msg.Text, []byte(b)) && !bytes.Contains(msg.HTML, []byte(b)) {
		return b
	}
	hh := sha256.New()
	hh.Write([]byte(msg.MessageID))
	hh.Write(msg.Text)
	hh.Write(msg.HTML)
	return "digestc" + hex.EncodeToString(hh.Sum(nil)[:16])
}

func checkMessageID(id string) error {
	if id == "" {
		return fmt.Errorf("mailer: empty Message-ID")
	}
	if strings.ContainsAny(id, "<> \t\r\n") || strings.Count(id, "@") != 1 {
		return fmt.Errorf("mailer: Message-ID %q: want left@right without <>", id)
	}
	return nil
}

func checkHeader(k, v string) error {
	if k == "" || strings.ContainsAny(k, ": \t\r\n") {
		return fmt.Errorf("mailer: header name %q", k)
	}
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("mailer: header %s: value contains a line break", k)
	}
	switch strings.ToLower(k) {
	case "from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post", "list-id", "dkim-signature", "content-type", "mime-version":
		return fmt.Errorf("mailer: header %s is set by the mailer", k)
	}
	return nil
}

// listID formats "Name <id>" with the name encoded if it is not ASCII,
// leaving the <id> readable for filters.
func listID(s string) (string, error) {
	name, id := "", strings.TrimSpace(s)
	if i := strings.LastIndexByte(id, '<'); i >= 0 && strings.HasSuffix(id, ">") {
		name, id = strings.TrimSpace(id[:i]), id[i+1:len(id)-1]
	}
	if id == "" || strings.ContainsAny(id, "<> \t\r\n") || !strings.Contains(id, ".") {
		return "", fmt.Errorf("mailer: List-Id %q: want \"Name <list.example.org>\"", s)
	}
	if strings.ContainsAny(name, "\r\n") {
		return "", fmt.Errorf("mailer: List-Id %q: line break", s)
	}
	if name == "" {
		return "<" + id + ">", nil
	}
	return mime.QEncoding.Encode("UTF-8", name) + " <" + id + ">", nil
}

// listUnsubscribe formats the List-Unsubscribe value and reports whether
// the one-click POST header applies (an http(s) URL is present).
func listUnsubscribe(httpURL, mailto string) (string, bool, error) {
	var parts []string
	post := false
	if httpURL != "" {
		u, err := url.Parse(httpURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", false, fmt.Errorf("mailer: unsubscribe URL %q: want an absolute https URL", httpURL)
		}
		if strings.ContainsAny(httpURL, "<>, \t\r\n") {
			return "", false, fmt.Errorf("mailer: unsubscribe URL %q: unescaped character", httpURL)
		}
		parts = append(parts, "<"+httpURL+">")
		post = true
	}
	if mailto != "" {
		if !strings.HasPrefix(strings.ToLower(mailto), "mailto:") || strings.ContainsAny(mailto, "<>, \t\r\n") {
			return "", false, fmt.Errorf("mailer: unsubscribe mailto %q: want mailto:address", mailto)
		}
		parts = append(parts, "<"+mailto+">")
	}
	return strings.Join(parts, ", "), post, nil
}
