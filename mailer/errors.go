package mailer

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"
)

// SendError is why one message was not (certainly) delivered.
type SendError struct {
	Op string // dial|auth|mail|rcpt|data|close|canceled
	// Temporary: worth trying again later (4xx, 421, network errors,
	// timeouts). Failures that are not the recipient's fault are temporary
	// even with a 5xx reply (login refused, STARTTLS missing, sender
	// refused at MAIL FROM), so they never count toward suppressing an
	// address; Deliver stops the run on those instead of retrying.
	Temporary bool
	// Ambiguous: the connection failed while the server was answering the
	// end of DATA, so it may have accepted the message ("possibly sent").
	// Deliver does not retry these; the ledger decides.
	Ambiguous bool
	Code      int    // SMTP reply code, 0 when there was none
	Enhanced  string // enhanced status code (5.1.1), "" when there was none
	Reply     string // the server's reply text
	// Blame says whose fault a reply makes the failure (see Blame); only a
	// permanent failure that blames the address or the mailbox may count
	// against the recipient.
	Blame Blame
	Err   error
	// broken: the connection failed after this error's reply.
	broken bool
}

// Blame is whom a refusal points at. The enhanced status code (RFC 3463)
// decides; the reply text only when there is none (or only X.0.0).
type Blame string

const (
	// BlameNone: no reply to judge by (network error, timeout) or nothing
	// the reply recognisably points at.
	BlameNone Blame = ""
	// BlameAddress: the address does not exist or is disabled (5.1.x except
	// the sender's 5.1.7/5.1.8, 5.2.1, "user unknown"): a hard bounce.
	BlameAddress Blame = "address"
	// BlameMailbox: the mailbox exists but cannot take mail (5.2.x such as
	// 5.2.2 full, "over quota"): a soft bounce.
	BlameMailbox Blame = "mailbox"
	// BlameSender: us or our relay (5.7.x policy, relaying denied,
	// authentication, 5.1.7/5.1.8, any 5xx to MAIL FROM).
	BlameSender Blame = "sender"
	// BlameMessage: the content (5.6.x, 5.3.4 and 5.2.3 too big).
	BlameMessage Blame = "message"
	// BlameSystem: the receiving system or the route (5.3.x, 5.4.x, 5.5.x
	// protocol).
	BlameSystem Blame = "system"
)

// AgainstRecipient reports whether err is a permanent refusal that blames
// the recipient, and whether it is a hard one (the address is gone) rather
// than a soft one (the mailbox is full). Everything else, a relay that
// denies relaying included, suppresses nobody.
func AgainstRecipient(err error) (counts, hard bool) {
	var se *SendError
	if !errors.As(err, &se) || se.Temporary {
		return false, false
	}
	switch se.Blame {
	case BlameAddress:
		return true, true
	case BlameMailbox:
		return true, false
	}
	return false, false
}

func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("mailer: ")
	b.WriteString(e.Op)
	if e.Code != 0 {
		fmt.Fprintf(&b, ": %d", e.Code)
		if e.Enhanced != "" {
			b.WriteString(" " + e.Enhanced)
		}
		if e.Reply != "" {
			b.WriteString(" " + e.Reply)
		}
	} else if e.Err != nil {
		b.WriteString(": " + strings.TrimPrefix(e.Err.Error(), "mailer: "))
	}
	switch {
	case e.Ambiguous:
		b.WriteString(" (possibly sent)")
	case e.Temporary:
		b.WriteString(" (temporary)")
	default:
		b.WriteString(" (permanent)")
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is a SendError worth retrying later.
func IsTemporary(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Temporary
}

// IsPermanent reports whether the server refused the message for good
// (5xx). Whether that counts against the address is AgainstRecipient's
// question.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && !se.Temporary
}

var enhancedRe = regexp.MustCompile(`^([245]\.\d{1,3}\.\d{1,3})\s*`)

// classify turns an error from one SMTP step into a SendError.
// go-mail's own IsTemp only looks at a leading "4", which calls a dropped
// connection permanent; here anything without a 5xx reply is temporary.
func classify(op string, err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		return se
	}
	e := &SendError{Op: op, Err: err, Temporary: true}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		e.Code = tp.Code
		e.Reply = tp.Msg
		if m := enhancedRe.FindStringSubmatch(tp.Msg); m != nil {
			e.Enhanced = m[1]
			e.Reply = tp.Msg[len(m[0]):]
		}
		e.Temporary = tp.Code < 500
		e.Blame = blame(op, e.Enhanced, tp.Msg)
		return e
	}
	if op == "close" && !errors.Is(err, context.Canceled) {
		// The message was written; whether the server took it is unknown.
		e.Ambiguous = true
	}
	return e
}

// blame reads whom a reply points at: the enhanced status code's class
// and subject (RFC 3463 section 3), else words in the text.
func blame(op, enhanced, text string) Blame {
	if op == "mail" || op == "auth" || op == "dial" {
		// Refused before any recipient was named: not theirs.
		return BlameSender
	}
	var class, subject, detail int
	if n, _ := fmt.Sscanf(enhanced, "%d.%d.%d", &class, &subject, &detail); n == 3 && (subject != 0 || detail != 0) {
		switch subject {
		case 1:
			if detail == 7 || detail == 8 { // the sender's address
				return BlameSender
			}
			return BlameAddress
		case 2:
			switch detail {
			case 1:
				return BlameAddress // mailbox disabled
			case 3:
				return BlameMessage // too long for this mailbox's limits
			case 4:
				return BlameSystem // mailing list expansion
			}
			return BlameMailbox
		case 3:
			if detail == 4 {
				return BlameMessage
			}
			return BlameSystem
		case 4, 5:
			return BlameSystem
		case 6:
			return BlameMessage
		case 7:
			return BlameSender
		}
		return BlameNone
	}
	t := strings.ToLower(text)
	for _, r := range textBlames {
		for _, w := range r.words {
			if strings.Contains(t, w) {
				return r.blame
			}
		}
	}
	return BlameNone
}

// textBlames are the fallback for replies without an enhanced code, in
// order: words about relaying and policy first, since "recipient address
// rejected: relay access denied" is the relay's doing.
var textBlames = []struct {
	blame Blame
	words []string
}{
	{BlameSender, []string{"relay", "authenticat", "not authorized", "not permitted", "policy", "spam", "blocked",
		"blacklist", "blocklist", "reputation", "spf", "dkim", "dmarc", "sender"}},
	{BlameMailbox, []string{"mailbox full", "mailbox is full", "over quota", "quota exceeded", "exceeded storage"}},
	{BlameAddress, []string{"user unknown", "unknown user", "no such user", "no such recipient", "no such mailbox",
		"recipient unknown", "unknown recipient", "invalid recipient", "mailbox unavailable", "mailbox not found",
		"mailbox disabled", "account disabled", "does not exist", "doesn't exist", "not a valid mailbox"}},
	{BlameMessage, []string{"message too", "too large", "too big", "content"}},
}
