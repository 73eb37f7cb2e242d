package smtptest

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session is one client connection: its transaction and the hooks that answer it.
type session struct {
	s      *Server
	c      *smtp.Conn
	cs     *connState
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.cfg.user == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != ss.s.cfg.user || pass != ss.s.cfg.pass {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return newLoginServer(check), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	if max := ss.s.cfg.maxPerConn; max > 0 {
		ss.s.mu.Lock()
		n := ss.cs.accepted
		ss.s.mu.Unlock()
		if n >= max {
			// A real relay answers 421 and hangs up; go-smtp would keep the
			// connection open after a returned error, so write and close here.
			raw := ss.c.Conn()
			_, _ = io.WriteString(raw, "421 4.7.0 Too many messages in this session, closing\r\n")
			_ = raw.Close()
			return ErrDrop
		}
	}
	if f := ss.s.cfg.mailHook; f != nil {
		ss.s.mu.Lock()
		ss.s.mailTries++
		n := ss.s.mailTries
		ss.s.mu.Unlock()
		if err := ss.hookResult(f(from, n)); err != nil {
			return err
		}
	}
	ss.from = from
	ss.to = ss.to[:0]
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.s.cfg.rcptHook; f != nil {
		ss.s.mu.Lock()
		ss.s.rcptTries[strings.ToLower(to)]++
		n := ss.s.rcptTries[strings.ToLower(to)]
		ss.s.mu.Unlock()
		if err := ss.hookResult(f(ss.from, to, n)); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var data []byte
	var err error
	if ss.s.cfg.discard {
		_, err = io.Copy(io.Discard, r)
	} else {
		data, err = io.ReadAll(r)
	}
	if err != nil {
		return err
	}
	to := append([]string(nil), ss.to...)
	if f := ss.s.cfg.dataHook; f != nil {
		key := strings.ToLower(strings.Join(to, ","))
		ss.s.mu.Lock()
		ss.s.dataTries[key]++
		n := ss.s.dataTries[key]
		ss.s.mu.Unlock()
		err := f(ss.from, to, n)
		if errors.Is(err, ErrKeepAndDrop) {
			ss.keep(data, to)
			_ = ss.c.Conn().Close()
			return ErrDrop
		}
		if err := ss.hookResult(err); err != nil {
			return err
		}
	}
	if d := ss.s.cfg.delay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ss.s.done:
			t.Stop()
			return ErrDrop
		}
	}
	if g := ss.s.cfg.gate; g != nil {
		select {
		case <-g():
		case <-ss.s.done:
			return ErrDrop
		}
	}
	ss.keep(data, to)
	return nil
}

// keep records an accepted message.
func (ss *session) keep(data []byte, to []string) {
	ss.s.mu.Lock()
	ss.cs.accepted++
	id := ss.cs.id
	ss.s.mu.Unlock()
	ss.s.accept(Message{From: ss.from, To: to, Data: data, ConnID: id})
}

// hookResult turns ErrDrop into a closed connection, and ErrHang into
// silence until the client hangs up.
func (ss *session) hookResult(err error) error {
	switch {
	case errors.Is(err, ErrDrop):
		_ = ss.c.Conn().Close()
	case errors.Is(err, ErrHang):
		ss.hang()
		return ErrDrop
	}
	return err
}

// hang answers nothing until the client closes the connection or the
// server is closed. The client sends nothing while it waits for a reply, so
// a read on the raw connection returns only when it hangs up.
func (ss *session) hang() {
	raw := ss.c.Conn()
	done := make(chan struct{})
	go func() {
		select {
		case <-ss.s.done:
			_ = raw.Close()
		case <-done:
		}
	}()
	_, _ = io.Copy(io.Discard, raw)
	close(done)
	_ = raw.Close()
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = ss.to[:0]
}

func (ss *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (go-sasl ships only the
// client side of it).
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func newLoginServer(check func(user, pass string) error) sasl.Server {
	return &loginServer{check: check}
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) > 0 { // initial response carries the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}
