package mailer

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Template is what every copy of a layout shares: the headers that are the
// same for all recipients and both parts, with numbered slots where each
// recipient's values go.
type Template struct {
	From, ReplyTo, Subject string // From as an RFC 5322 address ("Name <a@b>")
	Date                   time.Time
	ListID                 string            // "The Brief <brief.example.org>"
	Headers                map[string]string // extra headers (X-Digest-Issue, ...)
	// Text and HTML are the parts (at least one; both make a
	// multipart/alternative message), as literal text and slots.
	Text, HTML []Segment
}

// Segment is literal text followed by a slot: Slot n (1 or more) is filled
// with value n of the Copy's Text or HTML; 0 means no slot.
type Segment struct {
	Text []byte
	Slot int
}

// Layout is a message laid out once for many recipients: go-mail writes
// the shared headers and the MIME structure, each part is encoded
// quoted-printable once, and a Copy splices its recipient's headers and
// slot values into those bytes. It is safe for concurrent use.
type Layout struct {
	pieces []piece
	static int    // bytes of all literals
	from   string // envelope sender: the address of From
	// slots[p] is one more than the highest slot of part p (text, html).
	slots [2]int
}

// piece is encoded literal bytes followed by what each copy fills in.
type piece struct {
	lit  []byte
	fill fill
	slot int
}

type fill uint8

const (
	fillNone    fill = iota
	fillHeaders      // the recipient's To, Message-ID, List-Unsubscribe
	fillText         // slot of the text part
	fillHTML         // slot of the HTML part
)

// NewLayout checks t and lays it out.
func NewLayout(t Template) (*Layout, error) {
	if len(t.Text) == 0 && len(t.HTML) == 0 {
		return nil, errors.New("mailer: message has no body")
	}
	from, err := mail.ParseAddress(t.From)
	if err != nil {
		return nil, fmt.Errorf("mailer: From %q: %w", t.From, err)
	}
	var listIDValue string
	if t.ListID != "" {
		if listIDValue, err = listID(t.ListID); err != nil {
			return nil, err
		}
	}
	for k, v := range t.Headers {
		if err := checkHeader(k, v); err != nil {
			return nil, err
		}
	}
	var mark [8]byte
	if _, err := rand.Read(mark[:]); err != nil {
		return nil, fmt.Errorf("mailer: layout: %w", err)
	}
	// Placeholders go-mail writes unchanged (letters and digits, short),
	// cut out of its output below.
	token := "zq" + hex.EncodeToString(mark[:])
	idMark, textMark, htmlMark := token+"i@layout.invalid", token+"t", token+"h"

	skel, err := skeleton(t, listIDValue, idMark, textMark, htmlMark)
	if err != nil {
		return nil, err
	}

	l := &Layout{from: from.Address}
	rest := skel
	for _, cut := range []struct {
		mark string
		fill fill
		body []Segment
	}{
		{"Message-ID: <" + idMark + ">\r\n", fillHeaders, nil},
		{textMark, fillText, t.Text},
		{htmlMark, fillHTML, t.HTML},
	} {
		if cut.fill != fillHeaders && len(cut.body) == 0 {
			continue
		}
		i := bytes.Index(rest, []byte(cut.mark))
		if i < 0 || bytes.Count(rest, []byte(cut.mark)) != 1 {
			return nil, fmt.Errorf("mailer: layout: go-mail's output has no single %q", cut.mark)
		}
		if cut.fill == fillHeaders {
			l.add(piece{lit: rest[:i], fill: fillHeaders})
		} else {
			l.add(piece{lit: rest[:i]})
			l.addPart(cut.fill, cut.body)
		}
		rest = rest[i+len(cut.mark):]
	}
	l.add(piece{lit: rest})
	if err := l.check(); err != nil {
		return nil, err
	}
	return l, nil
}

// skeleton is the message as go-mail writes it, with placeholders for the
// recipient's Message-ID (where its header fields go) and for the parts.
func skeleton(t Template, listIDValue, idMark, textMark, htmlMark string) ([]byte, error) {
	m := gomail.NewMsg(gomail.WithBoundary(boundary(t)), gomail.WithNoDefaultUserAgent())
	if err := m.From(t.From); err != nil {
		return nil, fmt.Errorf("mailer: From %q: %w", t.From, err)
	}
	if t.ReplyTo != "" {
		if err := m.ReplyTo(t.ReplyTo); err != nil {
			return nil, fmt.Errorf("mailer: Reply-To %q: %w", t.ReplyTo, err)
		}
	}
	m.Subject(t.Subject)
	date := t.Date
	if date.IsZero() {
		date = time.Now()
	}
	m.SetDateWithValue(date)
	m.SetMessageIDWithValue(idMark)
	// SetGenHeader for every extra header: go-mail writes them sorted,
	// not in map order.
	if listIDValue != "" {
		m.SetGenHeader(gomail.Header("List-Id"), listIDValue)
	}
	for k, v := range t.Headers {
		m.SetGenHeader(gomail.Header(k), v)
	}
	switch {
	case len(t.Text) > 0 && len(t.HTML) > 0:
		m.SetBodyString(gomail.TypeTextPlain, textMark)
		m.AddAlternativeString(gomail.TypeTextHTML, htmlMark)
	case len(t.Text) > 0:
		m.SetBodyString(gomail.TypeTextPlain, textMark)
	default:
		m.SetBodyString(gomail.TypeTextHTML, htmlMark)
	}
	var skel bytes.Buffer
	if _, err := m.WriteTo(&skel); err != nil {
		return nil, fmt.Errorf("mailer: write message: %w", err)
	}
	return skel.Bytes(), nil
}

func (l *Layout) add(p piece) {
	l.pieces = append(l.pieces, p)
	l.static += len(p.lit)
}

// addPart encodes a part's literals, each starting a line so a slot's
// value, encoded per copy, starts one too. Runs of literals without a slot
// between them are encoded as one.
func (l *Layout) addPart(f fill, segs []Segment) {
	part := 0
	if f == fillHTML {
		part = 1
	}
	var run []byte
	for i, s := range segs {
		run = append(run, s.Text...)
		if s.Slot <= 0 && i < len(segs)-1 {
			continue
		}
		enc, atLineStart := appendQP(nil, run)
		run = run[:0]
		if s.Slot <= 0 {
			l.add(piece{lit: enc})
			return
		}
		if !atLineStart {
			enc = append(enc, "=\r\n"...)
		}
		l.add(piece{lit: enc, fill: f, slot: s.Slot})
		l.slots[part] = max(l.slots[part], s.Slot+1)
	}
}

// check makes sure the shared bytes need no dot-stuffing and use CRLF
// only, so copies go on the wire as they are.
func (l *Layout) check() error {
	for i, p := range l.pieces {
		if bytes.Contains(p.lit, []byte("\n.")) || (i == 0 && bytes.HasPrefix(p.lit, []byte("."))) {
			return errors.New("mailer: layout: a line starts with a dot")
		}
		if bytes.Count(p.lit, []byte("\n")) != bytes.Count(p.lit, []byte("\r\n")) {
			return errors.New("mailer: layout: bare line feed")
		}
	}
	return nil
}

// boundary derives the multipart boundary from the template, so a layout
// is byte-for-byte reproducible (a resumed send writes the same message).
// No encoded body line starts with "-" (see appendQP), so no body can
// contain a boundary line, whatever it holds. go-mail writes the boundary
// unquoted: it must be a plain token.
func boundary(t Template) string {
	h := sha256.New()
	for _, s := range []string{t.From, t.Subject, t.ListID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, part := range [][]Segment{t.Text, t.HTML} {
		for _, s := range part {
			h.Write(s.Text)
			h.Write([]byte(strconv.Itoa(s.Slot)))
		}
		h.Write([]byte{0})
	}
	return "digest" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Copy is one recipient's message made from a Layout.
type Copy struct {
	Layout *Layout
	// To is an RFC 5322 address ("Name <a@b>").
	To string
	// MessageID is written as <MessageID>; the caller derives it from issue
	// and subscriber (issue-12.sub-345@example.org) so a resend is
	// recognisable.
	MessageID string
	// UnsubscribeURL becomes List-Unsubscribe plus "List-Unsubscribe-Post:
	// List-Unsubscribe=One-Click" (RFC 8058). An http:// URL is still
	// written (local testing) but Gmail and Yahoo ignore one-click without
	// https.
	UnsubscribeURL    string
	UnsubscribeMailto string // optional mailto: URI, listed after the URL
	// EnvelopeFrom is the MAIL FROM address (a VERP bounce address); by
	// default the address of the layout's From.
	EnvelopeFrom string
	// Text and HTML fill the slots of the parts: Text[n] is slot n (index
	// 0 is unused). HTML values must be escaped for HTML already.
	Text, HTML []string
}

func (c *Copy) asCopy() (*Copy, error) { return c, nil }

// appendTo appends the message's bytes, unsigned, and returns its
// envelope. A To that is not an address is a recipientError.
func (c *Copy) appendTo(dst []byte) ([]byte, envelope, error) {
	l := c.Layout
	if l == nil {
		return nil, envelope{}, errors.New("mailer: copy without a layout")
	}
	to, err := mail.ParseAddress(c.To)
	if err != nil {
		return nil, envelope{}, recipientError{fmt.Errorf("mailer: To %q: %w", c.To, err)}
	}
	if strings.ContainsAny(to.Address, "\r\n") {
		return nil, envelope{}, recipientError{fmt.Errorf("mailer: To %q: line break", c.To)}
	}
	env := envelope{from: c.EnvelopeFrom, to: to.Address}
	if env.from == "" {
		env.from = l.from
	} else if err := checkEnvelopeFrom(env.from); err != nil {
		return nil, envelope{}, err
	}
	if len(c.Text) < l.slots[0] || len(c.HTML) < l.slots[1] {
		return nil, envelope{}, fmt.Errorf("mailer: copy has %d text and %d HTML values, the layout needs %d and %d",
			len(c.Text), len(c.HTML), l.slots[0], l.slots[1])
	}
	if err := checkMessageID(c.MessageID); err != nil {
		return nil, envelope{}, err
	}
	var unsub string
	var post bool
	if c.UnsubscribeURL != "" || c.UnsubscribeMailto != "" {
		if unsub, post, err = listUnsubscribe(c.UnsubscribeURL, c.UnsubscribeMailto); err != nil {
			return nil, envelope{}, err
		}
	}
	if need := len(dst) + l.static + 1024; cap(dst) < need {
		dst = append(make([]byte, 0, need+need/8), dst...)
	}
	for _, p := range l.pieces {
		dst = append(dst, p.lit...)
		var v string
		switch p.fill {
		case fillHeaders:
			// The recipient's own fields, where go-mail wrote the
			// layout's placeholder Message-ID.
			dst = appendHeader(dst, "To", to.String())
			dst = appendHeader(dst, "Message-ID", "<"+c.MessageID+">")
			if unsub != "" {
				// Not go-mail's SetListUnsubscribeOneClick: it refuses
				// http:// (local tests) and writes extra URIs unchecked;
				// both are checked above.
				dst = appendHeader(dst, "List-Unsubscribe", unsub)
				if post {
					dst = appendHeader(dst, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
				}
			}
			continue
		case fillText:
			v = c.Text[p.slot]
		case fillHTML:
			v = c.HTML[p.slot]
		default:
			continue
		}
		var atLineStart bool
		if dst, atLineStart = appendQP(dst, v); !atLineStart {
			dst = append(dst, "=\r\n"...)
		}
	}
	if !bytes.HasSuffix(dst, []byte("\r\n")) {
		dst = append(dst, "\r\n"...)
	}
	return dst, env, nil
}

// appendHeader writes a header field folded as go-mail folds the fields it
// writes: at spaces, before a word that would pass 76 characters.
func appendHeader(dst []byte, key, value string) []byte {
	const maxLen = 76 // go-mail's MaxHeaderLength
	dst = append(dst, key...)
	dst = append(dst, ':', ' ')
	room := maxLen - 2 - len(key) - 2
	for i := 0; ; i++ {
		word := value
		j := strings.IndexByte(value, ' ')
		if j >= 0 {
			word, value = value[:j], value[j+1:]
		}
		if room-len(word) <= 1 {
			if dst[len(dst)-1] == ' ' {
				dst = dst[:len(dst)-1]
			}
			dst = append(dst, '\r', '\n', ' ')
			room = maxLen - 3
		}
		dst = append(dst, word...)
		room -= len(word)
		if j < 0 {
			break
		}
		dst = append(dst, ' ')
		room--
	}
	return append(dst, '\r', '\n')
}
