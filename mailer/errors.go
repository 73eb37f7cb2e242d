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
	Err       error
	// broken: the connection failed after this error's reply.
	broken bool
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
// (5xx); such failures count toward suppressing the address.
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
		return e
	}
	if op == "close" && !errors.Is(err, context.Canceled) {
		// The message was written; whether the server took it is unknown.
		e.Ambiguous = true
	}
	return e
}
