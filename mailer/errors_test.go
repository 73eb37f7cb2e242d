package mailer

import (
	"context"
	"errors"
	"net/textproto"
	"testing"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

// TestBlame: the enhanced status code (RFC 3463) says whom a refusal
// blames; the text decides only without one.
func TestBlame(t *testing.T) {
	tests := []struct {
		op, reply string
		code      int
		want      Blame
		counts    bool
		hard      bool
	}{
		{"rcpt", "5.1.1 <x@example.org>: Recipient address rejected: User unknown", 550, BlameAddress, true, true},
		{"rcpt", "5.1.10 Recipient address has null MX", 556, BlameAddress, true, true},
		{"rcpt", "5.2.1 Mailbox disabled", 550, BlameAddress, true, true},
		{"rcpt", "5.2.2 Mailbox full", 552, BlameMailbox, true, false},
		{"close", "5.1.1 No such user (checked at DATA)", 550, BlameAddress, true, true},
		{"rcpt", "5.1.8 Sender address rejected: Domain not found", 553, BlameSender, false, false},
		{"rcpt", "5.7.1 <x@example.org>: Relay access denied", 554, BlameSender, false, false},
		{"rcpt", "5.7.1 Relaying denied", 550, BlameSender, false, false},
		{"rcpt", "5.7.26 Unauthenticated email is not accepted (DMARC)", 550, BlameSender, false, false},
		{"rcpt", "5.3.0 Mail system full", 552, BlameSystem, false, false},
		{"close", "5.3.4 Message too big for system", 552, BlameMessage, false, false},
		{"rcpt", "5.4.4 Unable to route", 550, BlameSystem, false, false},
		{"rcpt", "5.5.1 Invalid command", 500, BlameSystem, false, false},
		{"close", "5.6.0 Message content refused", 554, BlameMessage, false, false},
		{"mail", "5.1.1 No such user", 550, BlameSender, false, false}, // refused at MAIL FROM: ours
		{"rcpt", "5.0.0 User unknown", 550, BlameAddress, true, true},  // X.0.0: the text decides
		{"rcpt", "Requested action not taken: mailbox unavailable", 550, BlameAddress, true, true},
		{"rcpt", "Relaying denied, user unknown", 550, BlameSender, false, false}, // relay words first
		{"rcpt", "Over quota", 552, BlameMailbox, true, false},
		{"rcpt", "rejected", 550, BlameNone, false, false},
		{"rcpt", "4.1.1 Try again later", 451, BlameAddress, false, false}, // a 4xx never counts
	}
	for _, tt := range tests {
		se := classify(tt.op, &textproto.Error{Code: tt.code, Msg: tt.reply})
		if se.Blame != tt.want {
			t.Errorf("%s %d %q: blame %q, want %q", tt.op, tt.code, tt.reply, se.Blame, tt.want)
		}
		if counts, hard := AgainstRecipient(se); counts != tt.counts || hard != tt.hard {
			t.Errorf("%s %d %q: AgainstRecipient = %v, %v; want %v, %v", tt.op, tt.code, tt.reply, counts, hard, tt.counts, tt.hard)
		}
	}
	if counts, _ := AgainstRecipient(classify("close", errors.New("EOF"))); counts {
		t.Error("a dropped connection counts against the recipient")
	}
	if counts, _ := AgainstRecipient(errors.New("plain")); counts {
		t.Error("a non-SendError counts against the recipient")
	}
}

// TestProbe: RCPT without DATA; nothing is delivered.
func TestProbe(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithReply(func(_, rcpt string) error {
		if rcpt == "refused@example.org" {
			return smtptest.Error(550, "5.7.1", "Relaying denied")
		}
		return nil
	}))
	m := newTestMailer(t, s, nil)
	if err := m.Probe(context.Background(), "brief@example.org", "ok@example.org"); err != nil {
		t.Fatalf("probe of an accepted address: %v", err)
	}
	err := m.Probe(context.Background(), "brief@example.org", "refused@example.org")
	var se *SendError
	if !errors.As(err, &se) || se.Code != 550 || se.Blame != BlameSender {
		t.Fatalf("probe of a refused address: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("a probe delivered %d messages", s.Len())
	}
}
