// Package bounce reads delivery failure reports: standard DSNs (RFC 3464,
// multipart/report; report-type=delivery-status) and the plain-text shapes
// that qmail, Exim, Postfix (without DSN), Microsoft Exchange, Gmail and
// Yahoo send instead. It only parses; deciding what a bounce means for a
// subscriber is the caller's business.
package bounce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
)

// Report is what a message says about failed deliveries.
type Report struct {
	// IsBounce is true for any delivery report, including delay warnings
	// (whose recipients have Action "delayed" and must not be counted).
	IsBounce bool
	// Format names the shape recognised: "dsn", "qmail", "exim", "postfix",
	// "exchange", "gmail", "yahoo" or "generic".
	Format     string
	Recipients []Recipient
	// OriginalMessageID is the Message-ID of the message that bounced,
	// without angle brackets, when the report returns its headers.
	OriginalMessageID string
	// OriginalTo is the To address of the message that bounced.
	OriginalTo string
	// ReturnedHeader holds the headers of the message that bounced, when the
	// report includes them (message/rfc822, text/rfc822-headers or an
	// inline copy). Nil otherwise.
	ReturnedHeader textproto.MIMEHeader
	// Text is the decoded human-readable text of the report, for callers
	// that look for their own markers (VERP tokens) in it.
	Text string
}

// Recipient is one address the report is about.
type Recipient struct {
	Address    string // bare address, as reported
	Status     string // RFC 3463 enhanced status code, e.g. "5.1.1"
	Action     string // RFC 3464 action: failed, delayed, delivered, relayed, expanded
	Diagnostic string // the remote server's words, when given
	// Hard means the address itself is unusable: suppress it at once.
	Hard bool
}

// Failed reports whether the delivery to r definitely failed (as opposed to
// being delayed or a success notice).
func (r Recipient) Failed() bool { return r.Action == "failed" }

// Failed returns the recipients whose delivery failed.
func (r *Report) Failed() []Recipient {
	var out []Recipient
	for _, rc := range r.Recipients {
		if rc.Failed() {
			out = append(out, rc)
		}
	}
	return out
}

// ErrNotMessage is returned when raw does not even have a header section.
var ErrNotMessage = errors.New("bounce: not an email message")

// maxDepth bounds MIME nesting: a bounce of a bounce of a bounce is still
// readable, a hostile message nested a thousand deep is not worth reading.
const maxDepth = 8

// Parse reads raw (a whole RFC 5322 message) and returns what it reports.
// A message that is no bounce gives a Report with IsBounce false and a nil
// error; an error means raw is not a readable message at all.
func Parse(raw []byte) (*Report, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotMessage, err)
	}
	w := &walker{}
	body := bytes.NewReader(nil)
	if b, err := readAllLimited(msg.Body); err == nil {
		body = bytes.NewReader(b)
	}
	w.walk(textproto.MIMEHeader(msg.Header), body, 0)
	if len(w.texts) == 0 {
		// Only an HTML part (some Exchange NDRs): read its text.
		w.texts = w.htmls
	}

	r := &Report{ReturnedHeader: w.returned, Text: strings.Join(w.texts, "\n")}
	switch {
	case len(w.dsn) > 0:
		r.IsBounce = true
		r.Format = "dsn"
		r.Recipients = w.dsn
	default:
		parseText(r, textproto.MIMEHeader(msg.Header))
	}
	if r.ReturnedHeader == nil && r.IsBounce {
		r.ReturnedHeader = inlineHeader(r.Text)
	}
	if h := r.ReturnedHeader; h != nil {
		r.OriginalMessageID = msgID(h.Get("Message-Id"))
		if a, err := mail.ParseAddress(decodeWords(h.Get("To"))); err == nil {
			r.OriginalTo = a.Address
		}
	}
	if r.OriginalMessageID == "" && r.IsBounce {
		// Some MTAs thread the bounce to the original instead of returning it.
		r.OriginalMessageID = msgID(msg.Header.Get("In-Reply-To"))
	}
	for i := range r.Recipients {
		finish(&r.Recipients[i])
	}
	if r.IsBounce && len(r.Recipients) == 0 && r.OriginalTo != "" {
		// A bounce we could not read in detail still names its recipient
		// through the returned headers.
		rc := Recipient{Address: r.OriginalTo, Action: "failed", Diagnostic: firstDiagnostic(r.Text)}
		finishGuess(&rc, r.Text)
		r.Recipients = append(r.Recipients, rc)
	}
	return r, nil
}

var (
	reEnhanced = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	reBasic    = regexp.MustCompile(`(?:^|[\s:'(])([245])\d\d(?:[\s\-:]|$)`)
	reMsgID    = regexp.MustCompile(`<([^<>\s]+@[^<>\s]+)>`)
	// Words servers use when the mailbox is gone for good, whatever code
	// they chose to send with it.
	reUnknown = regexp.MustCompile(`(?i)user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist|doesn'?t exist|address not found|recipient not found|recipientnotfound|invalid (recipient|mailbox|address)|mailbox unavailable|mailbox not found|account (has been )?disabled|account is disabled|doesn't have an? [\w.]+ account|not a valid mailbox|unrouteable address|no mailbox here`)
	reTimeout = regexp.MustCompile(`(?i)retry time(out)? (not reached|exceeded)|too long in (the )?queue|message expired|delivery time expired|could not be delivered within`)
	reFull    = regexp.MustCompile(`(?i)mailbox (is )?full|over ?quota|quota exceeded|exceeded (the|its|their) (storage|quota)|insufficient (system )?storage|out of storage`)
)

// finish derives Status and Hard from what the report gave.
func finish(rc *Recipient) {
	rc.Address = bareAddress(rc.Address)
	rc.Action = strings.ToLower(strings.TrimSpace(rc.Action))
	if m := reEnhanced.FindString(rc.Status); m != "" {
		rc.Status = m
	} else {
		rc.Status = ""
	}
	if rc.Status == "" {
		rc.Status = statusFromText(rc.Diagnostic)
	}
	if rc.Action == "" {
		// A plain-text report is a failure notice unless its parser saw a
		// delay warning and said so: even with a 4.x.x code the MTA has
		// stopped trying.
		rc.Action = "failed"
	}
	if rc.Status == "" {
		if rc.Action == "delayed" {
			rc.Status = "4.0.0"
		} else {
			rc.Status = "5.0.0"
		}
	}
	rc.Hard = rc.Action == "failed" && hard(rc.Status, rc.Diagnostic)
}

// finishGuess is finish for a recipient whose status must be guessed from
// the whole report text.
func finishGuess(rc *Recipient, text string) {
	if rc.Status == "" {
		rc.Status = statusFromText(text)
	}
	finish(rc)
}

// statusFromText finds an enhanced status code, else turns a basic SMTP
// reply code into one, else guesses from well-known wording.
func statusFromText(s string) string {
	if m := reEnhanced.FindString(s); m != "" {
		return m
	}
	if m := reBasic.FindStringSubmatch(s); m != nil {
		switch {
		case reUnknown.MatchString(s):
			return m[1] + ".1.1"
		case reFull.MatchString(s):
			return m[1] + ".2.2"
		}
		return m[1] + ".0.0"
	}
	switch {
	case reUnknown.MatchString(s):
		return "5.1.1"
	case reFull.MatchString(s):
		return "4.2.2"
	case reTimeout.MatchString(s):
		return "4.4.7"
	}
	return ""
}

// hard decides whether a failure condemns the address. Class 5 is hard,
// except where RFC 3463 blames the message or the sender rather than the
// mailbox: 5.2.2 (mailbox full), 5.2.3 (too big), 5.3.x (system), 5.5.x
// (protocol), 5.6.x (content) and 5.7.x (policy). Suppressing on those
// would, for example, drop every Gmail reader after one DKIM mistake
// (5.7.26). Words that say the mailbox does not exist make it hard
// whatever the code.
func hard(status, diag string) bool {
	if reUnknown.MatchString(diag) && !reFull.MatchString(diag) {
		return true
	}
	if !strings.HasPrefix(status, "5.") {
		return false
	}
	parts := strings.SplitN(status, ".", 3)
	if len(parts) != 3 {
		return true
	}
	switch parts[1] {
	case "3", "5", "6", "7":
		return false
	case "2":
		return parts[2] != "2" && parts[2] != "3"
	}
	return true
}

// bareAddress strips an RFC 3464 address type ("rfc822;"), angle brackets
// and stray punctuation.
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ';'); i >= 0 && !strings.Contains(s[:i], "@") {
		s = strings.TrimSpace(s[i+1:])
	}
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	s = strings.Trim(s, " \t<>:,;\"'")
	if at := strings.LastIndexByte(s, '@'); at > 0 {
		s = s[:at] + "@" + strings.ToLower(s[at+1:])
	}
	return s
}

func msgID(s string) string {
	if m := reMsgID.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return strings.Trim(strings.TrimSpace(s), "<>")
}

// inlineHeader finds a copy of the original headers pasted into the text
// (qmail, Exim and Postfix without DSN do that after a marker line).
func inlineHeader(text string) textproto.MIMEHeader {
	lower := strings.ToLower(text)
	markers := []string{
		"--- below this line is a copy of the message",
		"------ this is a copy of the message",
		"----- original message -----",
		"original message headers:",
		"original message follows",
		"----- original message headers -----",
		"--- original message ---",
	}
	for _, m := range markers {
		i := strings.Index(lower, m)
		if i < 0 {
			continue
		}
		rest := text[i:]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[nl+1:]
		} else {
			continue
		}
		rest = strings.TrimLeft(rest, "\r\n")
		h, _ := textproto.NewReader(bufio.NewReader(strings.NewReader(rest + "\r\n\r\n"))).ReadMIMEHeader()
		if len(h) > 0 {
			return h
		}
	}
	return nil
}
