package mailer

import (
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"
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

// asCopy lays msg out on its own (one recipient, so nothing is shared).
func (msg *Message) asCopy() (*Copy, error) {
	t := Template{
		From: msg.From, ReplyTo: msg.ReplyTo, Subject: msg.Subject, Date: msg.Date,
		ListID: msg.ListID, Headers: msg.Headers,
	}
	if len(msg.Text) > 0 {
		t.Text = []Segment{{Text: msg.Text}}
	}
	if len(msg.HTML) > 0 {
		t.HTML = []Segment{{Text: msg.HTML}}
	}
	if len(t.Text) == 0 && len(t.HTML) == 0 {
		return nil, fmt.Errorf("mailer: message to %q has no body", msg.To)
	}
	l, err := NewLayout(t)
	if err != nil {
		return nil, err
	}
	return &Copy{
		Layout: l, To: msg.To, MessageID: msg.MessageID,
		UnsubscribeURL: msg.UnsubscribeURL, UnsubscribeMailto: msg.UnsubscribeMailto,
		EnvelopeFrom: msg.EnvelopeFrom,
	}, nil
}

// checkEnvelopeFrom accepts a bare address for MAIL FROM.
func checkEnvelopeFrom(from string) error {
	if strings.ContainsAny(from, "<> \r\n") || !strings.Contains(from, "@") {
		return fmt.Errorf("mailer: EnvelopeFrom %q: not a bare address", from)
	}
	return nil
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
	if k == "" || k[0] == '.' {
		return fmt.Errorf("mailer: header name %q", k)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' || k[i] == ':' {
			return fmt.Errorf("mailer: header name %q", k)
		}
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
