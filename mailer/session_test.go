package mailer

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

// reads sorts what the server read: how many reads carried MAIL, RCPT and
// DATA together, how many carried MAIL and RCPT together, and how many
// RSETs were sent.
func reads(s *smtptest.Server) (together, mailRcpt, rsets int, all []byte) {
	for _, r := range s.Reads() {
		all = append(all, r...)
		m, rc, d := bytes.Contains(r, []byte("MAIL FROM:")), bytes.Contains(r, []byte("RCPT TO:")), bytes.Contains(r, []byte("\r\nDATA\r\n"))
		if m && rc {
			mailRcpt++
		}
		if m && rc && d {
			together++
		}
		rsets += bytes.Count(r, []byte("RSET\r\n"))
	}
	return together, mailRcpt, rsets, all
}

func TestPipelinesWhenOffered(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithTranscript())
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1 })
	const n = 10
	for id, r := range deliverAll(t, m, n) {
		if r.Err != nil || r.Attempts != 1 {
			t.Errorf("job %d: %v, %d attempts", id, r.Err, r.Attempts)
		}
	}
	if s.Len() != n || s.Connections() != 1 {
		t.Fatalf("%d messages on %d connections", s.Len(), s.Connections())
	}
	together, _, rsets, _ := reads(s)
	// One write per flight: on loopback each arrives in one read (a split
	// is possible, ten of them are not).
	if together == 0 {
		t.Error("MAIL, RCPT and DATA never arrived together: not pipelined")
	}
	if rsets != 0 {
		t.Errorf("%d RSETs after successful transactions", rsets)
	}
}

func TestWithoutPipeliningOneCommandAtATime(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithTranscript(), smtptest.WithoutPipelining())
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1 })
	const n = 10
	for id, r := range deliverAll(t, m, n) {
		if r.Err != nil || r.Attempts != 1 {
			t.Errorf("job %d: %v, %d attempts", id, r.Err, r.Attempts)
		}
	}
	if s.Len() != n || s.Connections() != 1 {
		t.Fatalf("%d messages on %d connections", s.Len(), s.Connections())
	}
	_, mailRcpt, rsets, _ := reads(s)
	if mailRcpt != 0 {
		t.Errorf("%d reads carried MAIL and RCPT together to a server without PIPELINING", mailRcpt)
	}
	if rsets != 0 {
		t.Errorf("%d RSETs after successful transactions", rsets)
	}
	for i := 0; i < n; i++ {
		checkAlternative(t, s.Messages()[i].Data, "Hello reader")
	}
}

// A refused RCPT in a pipelined flight is that recipient's failure alone:
// its message is never sent, the connection goes on (after RSET), and the
// failure keeps its class.
func TestRefusedRecipientInPipelinedFlight(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			opts := []smtptest.Option{smtptest.WithTranscript(), smtptest.WithRcptHook(func(_, to string, _ int) error {
				switch to {
				case rcpt(3), rcpt(7):
					return smtpErr(550, gosmtp.EnhancedCode{5, 1, 1}, "No such user here")
				case rcpt(5):
					return smtpErr(452, gosmtp.EnhancedCode{4, 2, 2}, "Mailbox full")
				}
				return nil
			})}
			if !pipelining {
				opts = append(opts, smtptest.WithoutPipelining())
			}
			s := smtptest.Start(t, opts...)
			m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1; o.Retries = 1 })
			const n = 10
			got := deliverAll(t, m, n)
			for id, r := range got {
				var se *SendError
				switch id {
				case 3, 7:
					if !errors.As(r.Err, &se) || se.Op != "rcpt" || se.Code != 550 || se.Enhanced != "5.1.1" || !IsPermanent(r.Err) || r.Attempts != 1 {
						t.Errorf("job %d: %v, %d attempts: want a permanent 550 at RCPT", id, r.Err, r.Attempts)
					}
				case 5:
					if !errors.As(r.Err, &se) || se.Op != "rcpt" || se.Code != 452 || !IsTemporary(r.Err) || r.Attempts != 2 {
						t.Errorf("job %d: %v, %d attempts: want a temporary 452 at RCPT, retried once", id, r.Err, r.Attempts)
					}
				default:
					if r.Err != nil || r.Attempts != 1 {
						t.Errorf("job %d: %v, %d attempts", id, r.Err, r.Attempts)
					}
				}
			}
			if s.Len() != n-3 || s.Connections() != 1 {
				t.Errorf("%d messages on %d connections, want %d on 1", s.Len(), s.Connections(), n-3)
			}
			for i := 0; i < n; i++ {
				want := 1
				if i == 3 || i == 5 || i == 7 {
					want = 0
				}
				if c := s.Count(rcpt(i)); c != want {
					t.Errorf("%s got %d messages", rcpt(i), c)
				}
			}
			together, _, rsets, all := reads(s)
			for _, i := range []int{3, 5, 7} {
				if bytes.Contains(all, []byte(fmt.Sprintf("Hello reader %d.", i))) {
					t.Errorf("the message to refused %s was sent", rcpt(i))
				}
			}
			if pipelining && together == 0 {
				t.Error("not pipelined")
			}
			// One RSET per failed transaction (3, 7, and 5 twice), none after a success.
			if rsets != 4 {
				t.Errorf("%d RSETs, want 4", rsets)
			}
		})
	}
}

func TestDroppedAfterDataInPipelinedSession(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithTranscript(), smtptest.WithDataHook(func(_ string, to []string, n int) error {
		if to[0] == rcpt(2) && n == 1 {
			return smtptest.ErrDrop
		}
		return nil
	}))
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1; o.Retries = 3 })
	const n = 6
	got := deliverAll(t, m, n)
	for id, r := range got {
		var se *SendError
		if id == 2 {
			if !errors.As(r.Err, &se) || se.Op != "close" || !se.Ambiguous || !se.Temporary || r.Attempts != 1 {
				t.Errorf("job 2: %v, %d attempts: want possibly sent, not retried", r.Err, r.Attempts)
			}
			continue
		}
		if r.Err != nil || r.Attempts != 1 {
			t.Errorf("job %d: %v, %d attempts", id, r.Err, r.Attempts)
		}
	}
	if s.Len() != n-1 || s.Connections() != 2 || s.Count(rcpt(2)) != 0 {
		t.Errorf("%d messages on %d connections, %d to the dropped one", s.Len(), s.Connections(), s.Count(rcpt(2)))
	}
	if together, _, _, _ := reads(s); together == 0 {
		t.Error("not pipelined")
	}
}

// A connection the server closed while we kept it (here: dropped at the
// next MAIL) costs no attempt: nothing of the message was taken, so it is
// sent at once on a new connection.
func TestClosedIdleConnectionRedialledAtOnce(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithMailHook(func(_ string, n int) error {
		if n == 2 {
			return smtptest.ErrDrop
		}
		return nil
	}))
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1; o.Retries = 0 })
	for id, r := range deliverAll(t, m, 3) {
		if r.Err != nil || r.Attempts != 1 {
			t.Errorf("job %d: %v, %d attempts", id, r.Err, r.Attempts)
		}
	}
	if s.Len() != 3 || s.Connections() != 2 {
		t.Errorf("%d messages on %d connections", s.Len(), s.Connections())
	}
}

// Timeout bounds each command and reply, not the transaction or the
// session (go-mail sets one deadline at dial, which its WithoutRset turns
// into a budget for the whole session): a server that is slow at RCPT and
// again at the end of DATA, each within Timeout, both together not, still
// gets every message.
func TestTimeoutIsPerCommand(t *testing.T) {
	const step, timeout = 200 * time.Millisecond, 350 * time.Millisecond
	for _, pipelining := range []bool{true, false} {
		opts := []smtptest.Option{
			smtptest.WithDelay(step), // before the reply to the end of DATA
			smtptest.WithRcptHook(func(string, string, int) error { time.Sleep(step); return nil }), // a slow lookup
		}
		if !pipelining {
			opts = append(opts, smtptest.WithoutPipelining())
		}
		s := smtptest.Start(t, opts...)
		m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1; o.Retries = 0; o.Timeout = timeout })
		for id, r := range deliverAll(t, m, 3) {
			if r.Err != nil {
				t.Errorf("pipelining %v, job %d: %v", pipelining, id, r.Err)
			}
		}
		if s.Len() != 3 || s.Connections() != 1 {
			t.Errorf("pipelining %v: %d messages on %d connections", pipelining, s.Len(), s.Connections())
		}
	}
}

func TestSenderRefusedInPipelinedFlight(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithTranscript(), smtptest.WithMailHook(func(string, int) error {
		return smtpErr(553, gosmtp.EnhancedCode{5, 7, 1}, "Sender address rejected")
	}))
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1; o.Retries = 3 })
	got := deliverAll(t, m, 3)
	for id, r := range got {
		if IsPermanent(r.Err) || !IsTemporary(r.Err) {
			t.Errorf("job %d: %v: a refused sender blames no recipient", id, r.Err)
		}
	}
	var se *SendError
	if !errors.As(got[0].Err, &se) || se.Op != "mail" || se.Code != 553 {
		t.Errorf("job 0: %v, want the MAIL reply", got[0].Err)
	}
	_, _, _, all := reads(s)
	if strings.Contains(string(all), "Hello reader") {
		t.Error("a message was sent after MAIL FROM was refused")
	}
}
