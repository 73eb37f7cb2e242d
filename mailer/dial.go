package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// dial opens a connection with go-mail (TLS and AUTH as configured).
func (w *worker) dial(ctx context.Context) *SendError {
	var raw net.Conn
	var mu sync.Mutex
	client, err := gomail.NewClient(w.m.opts.Host, w.m.clientOptions(func(c net.Conn) {
		mu.Lock()
		raw = c
		mu.Unlock()
	})...)
	if err != nil {
		return &SendError{Op: "dial", Err: err}
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		// go-mail leaves the socket open when EHLO, STARTTLS or AUTH fail.
		mu.Lock()
		if raw != nil {
			_ = raw.Close()
		}
		mu.Unlock()
		op := "dial"
		if strings.Contains(err.Error(), "AUTH") {
			op = "auth"
		}
		se := classify(op, err)
		se.Ambiguous = false
		// Nothing here is the recipient's fault: never let a login problem
		// count toward suppressing addresses. A 5xx (bad credentials) or a
		// local refusal (no STARTTLS offered, certificate not trusted) will
		// not fix itself, so stop this run; network trouble and 4xx retry.
		if se.Code >= 500 || (se.Code == 0 && !isNetErr(err) && ctx.Err() == nil) {
			w.run.setFatal(se)
			w.m.log.Error("mailer: cannot log in to SMTP server; stopping", "err", err)
		}
		se.Temporary = true
		return se
	}
	w.conn, w.sent, w.sess = conn, 0, newSession(conn)
	return nil
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF)
}

func (m *Mailer) clientOptions(gotConn func(net.Conn)) []gomail.Option {
	o := m.opts
	var d net.Dialer
	dialFn := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if o.TLS == "tls" {
			tc := tls.Client(c, m.tlsCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = c.Close()
				return nil, err
			}
			c = tc
		}
		gotConn(c)
		return c, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(o.Port),
		gomail.WithTimeout(o.Timeout),
		gomail.WithTLSConfig(m.tlsCfg),
		gomail.WithDialContextFunc(dialFn),
	}
	switch o.TLS {
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default: // none, or tls done by dialFn
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if o.HELO != "" {
		opts = append(opts, gomail.WithHELO(o.HELO))
	}
	if o.Username != "" {
		opts = append(opts, gomail.WithSMTPAuthCustom(&pickAuth{user: o.Username, pass: o.Password, host: o.Host}))
	}
	return opts
}

// pickAuth chooses the strongest mechanism the server offers, once per
// connection. go-mail's autodiscovery refuses PLAIN and LOGIN whenever it
// did not set up TLS itself (we dial implicit TLS ourselves), and its
// opportunistic mode writes the client's state during a dial, which races
// with concurrent dials.
type pickAuth struct {
	user, pass, host string
	inner            smtp.Auth
}

func (a *pickAuth) Start(s *smtp.ServerInfo) (string, []byte, error) {
	has := func(m string) bool {
		for _, x := range s.Auth {
			if strings.EqualFold(x, m) {
				return true
			}
		}
		return false
	}
	switch {
	case has("SCRAM-SHA-256"):
		a.inner = smtp.ScramSHA256Auth(a.user, a.pass)
	case has("SCRAM-SHA-1"):
		a.inner = smtp.ScramSHA1Auth(a.user, a.pass)
	case has("PLAIN"):
		// Refuses to send the password in clear except to localhost.
		a.inner = smtp.PlainAuth("", a.user, a.pass, a.host, false)
	case has("LOGIN"):
		a.inner = smtp.LoginAuth(a.user, a.pass, a.host, false)
	case has("CRAM-MD5"):
		a.inner = smtp.CRAMMD5Auth(a.user, a.pass)
	default:
		return "", nil, fmt.Errorf("SMTP AUTH: no supported mechanism in %v", s.Auth)
	}
	return a.inner.Start(s)
}

func (a *pickAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
}
