package smtptest

import (
	"context"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

func send(t *testing.T, c *smtp.Client, from, to, body string) error {
	t.Helper()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

func dial(t *testing.T, s *Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

const body = "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"

func TestAcceptAndRecord(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	if err := send(t, c, "a@example.org", "b@example.org", body); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].From != "a@example.org" || msgs[0].Header.Get("Subject") != "hi" || msgs[0].ConnID != 1 {
		t.Fatalf("got %+v", msgs)
	}
	if s.Count("B@example.org") != 1 || s.Connections() != 1 {
		t.Fatalf("count %d conns %d", s.Count("b@example.org"), s.Connections())
	}
}

func TestHooks(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		wantCode int
		wantDrop bool
	}{
		{"rcpt 451 first", []Option{WithRcptHook(func(_, _ string, n int) error {
			if n == 1 {
				return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		})}, 451, false},
		{"data 550", []Option{WithDataHook(func(_ string, _ []string, n int) error {
			if n == 1 {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		})}, 550, false},
		{"mail 421 first", []Option{WithMailHook(func(_ string, n int) error {
			if n == 1 {
				return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "busy"}
			}
			return nil
		})}, 421, false},
		{"rcpt drop", []Option{WithRcptHook(func(_, _ string, n int) error {
			if n == 1 {
				return ErrDrop
			}
			return nil
		})}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, tt.opts...)
			err := send(t, dial(t, s), "a@example.org", "b@example.org", body)
			if err == nil {
				t.Fatal("first attempt accepted")
			}
			if c := code(err); c != tt.wantCode {
				t.Fatalf("code %d (%v), want %d", c, err, tt.wantCode)
			}
			// The second attempt, on a fresh connection, is accepted.
			if err := send(t, dial(t, s), "a@example.org", "b@example.org", body); err != nil {
				t.Fatal(err)
			}
			if s.Len() != 1 || s.Connections() != 2 {
				t.Fatalf("len %d conns %d", s.Len(), s.Connections())
			}
		})
	}
}

func TestWithReplyAndError(t *testing.T) {
	s := Start(t, WithReply(func(_, rcpt string) error {
		if rcpt == "gone@example.org" {
			return Error(550, "5.1.1", "No such user")
		}
		return nil
	}))
	c := dial(t, s)
	err := send(t, c, "a@example.org", "gone@example.org", body)
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 550 || te.Msg != "5.1.1 No such user" {
		t.Fatalf("got %v", err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := send(t, c, "a@example.org", "b@example.org", body); err != nil {
		t.Fatal(err)
	}
	if e := Error(421, "bogus", "x").(*gosmtp.SMTPError); e.EnhancedCode != (gosmtp.EnhancedCode{4, 0, 0}) {
		t.Fatalf("enhanced %v", e.EnhancedCode)
	}
}

func TestMaxPerConnection(t *testing.T) {
	s := Start(t, WithMaxPerConnection(2))
	c := dial(t, s)
	for i := 0; i < 2; i++ {
		if err := send(t, c, "a@example.org", "b@example.org", body); err != nil {
			t.Fatal(err)
		}
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	err := send(t, c, "a@example.org", "b@example.org", body)
	if code(err) != 421 {
		t.Fatalf("third message: %v, want 421", err)
	}
	if err := c.Noop(); err == nil {
		t.Fatal("connection still open after 421")
	}
}

func TestAuthAndSTARTTLS(t *testing.T) {
	s := Start(t, WithAuth("u", "p"), WithTLS())
	c := dial(t, s)
	if err := c.Mail("a@example.org"); code(err) != 502 {
		t.Fatalf("MAIL before AUTH: %v", err)
	}
	if err := c.StartTLS(s.ClientTLS()); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := send(t, c, "a@example.org", "b@example.org", body); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 || s.Connections() != 1 {
		t.Fatalf("len %d conns %d", s.Len(), s.Connections())
	}
}

func TestAuthWrongPassword(t *testing.T) {
	s := Start(t, WithAuth("u", "p"))
	if err := dial(t, s).Auth(smtp.PlainAuth("", "u", "wrong", "127.0.0.1")); code(err) != 535 {
		t.Fatalf("wrong password: %v, want 535", err)
	}
}

func TestGateHoldsMessage(t *testing.T) {
	gate := make(chan struct{})
	s := Start(t, WithGate(func() <-chan struct{} { return gate }))
	errc := make(chan error, 1)
	c := dial(t, s)
	go func() { errc <- send(t, c, "a@example.org", "b@example.org", body) }()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitFor(ctx, 1); err == nil {
		t.Fatal("message accepted while the gate was shut")
	}
	close(gate)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Fatal("message not recorded")
	}
}

func TestDiscard(t *testing.T) {
	s := Start(t, WithDiscard())
	c := dial(t, s)
	for i := 0; i < 3; i++ {
		if err := send(t, c, "a@example.org", "b@example.org", body); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || len(s.Messages()) != 0 || s.Count("b@example.org") != 0 {
		t.Fatalf("len %d messages %d", s.Len(), len(s.Messages()))
	}
}

func TestListenClose(t *testing.T) {
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.Port == 0 || !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("addr %q port %d", s.Addr, s.Port)
	}
	s.Close()
	s.Close()
	if _, err := smtp.Dial(s.Addr); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

func TestWithoutPipeliningAndTranscript(t *testing.T) {
	for _, hide := range []bool{false, true} {
		opts := []Option{WithTranscript()}
		if hide {
			opts = append(opts, WithoutPipelining())
		}
		s := Start(t, opts...)
		c := dial(t, s)
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("PIPELINING"); ok == hide {
			t.Errorf("hidden %v: PIPELINING offered %v", hide, ok)
		}
		if ok, _ := c.Extension("8BITMIME"); !ok {
			t.Errorf("hidden %v: the other extensions went too", hide)
		}
		if err := send(t, c, "a@example.org", "b@example.org", body); err != nil {
			t.Fatal(err)
		}
		// net/smtp waits for each reply: every command has a read of its own.
		var verbs []string
		for _, r := range s.Reads() {
			verb, _, _ := strings.Cut(string(r), " ")
			verbs = append(verbs, strings.TrimSpace(verb))
		}
		if got := strings.Join(verbs, " "); !strings.Contains(got, "MAIL RCPT DATA") {
			t.Errorf("hidden %v: reads start with %q", hide, got)
		}
	}
}

// TestKeepAndDropAndHang: the two ways a reply after DATA goes missing.
// ErrKeepAndDrop keeps the message and closes without the reply; ErrHang
// keeps nothing and answers nothing until the client hangs up.
func TestKeepAndDropAndHang(t *testing.T) {
	s := Start(t, WithDataHook(func(_ string, to []string, _ int) error {
		switch to[0] {
		case "kept@example.org":
			return ErrKeepAndDrop
		case "hang@example.org":
			return ErrHang
		}
		return nil
	}))
	if err := send(t, dial(t, s), "a@example.org", "kept@example.org", body); err == nil || code(err) != 0 {
		t.Fatalf("keep-and-drop: err %v, want a connection error without a reply", err)
	}
	if s.Count("kept@example.org") != 1 {
		t.Fatal("keep-and-drop did not keep the message")
	}

	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Mail("a@example.org")
	c.Rcpt("hang@example.org")
	w, _ := c.Data()
	w.Write([]byte(body))
	conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
	err = w.Close()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("hang: err %v, want the client's own timeout", err)
	}
	conn.Close()
	if s.Count("hang@example.org") != 0 || s.Len() != 1 {
		t.Fatalf("hang kept a message: %d", s.Len())
	}
	// The server let go of the connection once the client hung up.
	if err := send(t, dial(t, s), "a@example.org", "ok@example.org", body); err != nil {
		t.Fatal(err)
	}
}
