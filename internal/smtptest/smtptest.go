// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// the loopback interface for tests. It records every accepted message and can
// be told to answer with temporary or permanent errors, drop connections,
// hang without a reply, keep a message and drop its reply (the RFC 1047
// duplicate window), close a session after N messages, hold a message before
// accepting it, ask for authentication, offer STARTTLS / implicit TLS, keep
// PIPELINING (RFC 2920) to itself, and record what clients send read by read.
//
// Tests call Start, which closes the server on t.Cleanup. A process that is
// not a test (a crash test driving the real binary) calls Listen and Close.
package smtptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// ErrDrop, returned by a hook, makes the server close the connection at once
// without replying: the client sees a network error. From the data hook the
// message is not kept.
var ErrDrop = errors.New("smtptest: drop connection")

// ErrHang, returned by a hook, makes the server stop answering: no reply,
// the connection held open until the client gives up and closes it (or the
// server closes), as a stalled relay does. From the data hook the message
// is not kept.
var ErrHang = errors.New("smtptest: hang")

// ErrKeepAndDrop, returned by the data hook, makes the server keep the
// message (it counts as accepted) and then close the connection without the
// final reply: the client cannot know the message was delivered (RFC 1047).
var ErrKeepAndDrop = errors.New("smtptest: keep the message, drop the reply")

// Message is one message the server accepted.
type Message struct {
	From   string
	To     []string
	Data   []byte
	Header mail.Header // parsed from Data; nil if Data has no valid header
	ConnID int         // 1-based number of the connection that carried it
}

// Reply decides the answer to a command: nil accepts, a *smtp.SMTPError
// (see Error) answers with its code and text, ErrDrop drops the connection.
// Hooks run on the server's connection goroutines, concurrently.
type Reply func(from, rcpt string) error

// WithReply answers every RCPT TO with r (WithRcptHook without the count).
func WithReply(r Reply) Option {
	return WithRcptHook(func(from, rcpt string, _ int) error { return r(from, rcpt) })
}

// Error builds an SMTP reply for a hook to return, e.g.
// Error(451, "4.7.1", "Greylisted") or Error(550, "5.1.1", "No such user").
// An enhanced code that does not parse becomes X.0.0 of the reply's class.
func Error(code int, enhanced, msg string) error {
	ec := smtp.EnhancedCode{code / 100, 0, 0}
	var a, b, c int
	if n, _ := fmt.Sscanf(enhanced, "%d.%d.%d", &a, &b, &c); n == 3 {
		ec = smtp.EnhancedCode{a, b, c}
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
}

// Option configures a Server.
type Option func(*config)

type config struct {
	mailHook   func(from string, n int) error
	rcptHook   func(from, rcpt string, n int) error
	dataHook   func(from string, to []string, n int) error
	maxPerConn int
	delay      time.Duration
	gate       func() <-chan struct{}
	user, pass string
	startTLS   bool
	implicit   bool
	discard    bool
	noPipe     bool
	transcript bool
}

// WithMailHook calls f for every MAIL FROM; n is the 1-based number of
// MAIL commands the server has seen (across connections).
func WithMailHook(f func(from string, n int) error) Option {
	return func(c *config) { c.mailHook = f }
}

// WithRcptHook calls f for every RCPT TO; n is the 1-based number of times
// this recipient has been offered to the server (across connections).
func WithRcptHook(f func(from, rcpt string, n int) error) Option {
	return func(c *config) { c.rcptHook = f }
}

// WithDataHook calls f after the message body has been read, before it is
// accepted; n is the 1-based number of DATA attempts for this recipient list
// (across connections). A non-nil error rejects the message (or drops the
// connection for ErrDrop).
func WithDataHook(f func(from string, to []string, n int) error) Option {
	return func(c *config) { c.dataHook = f }
}

// WithMaxPerConnection makes the server answer "421 too many messages" and
// close the connection on the MAIL FROM after n accepted messages in one
// session, as some relays do.
func WithMaxPerConnection(n int) Option { return func(c *config) { c.maxPerConn = n } }

// WithDelay holds every message for d after its body is read, before the
// final reply (a slow server).
func WithDelay(d time.Duration) Option { return func(c *config) { c.delay = d } }

// WithGate holds every message after its body is read until the channel f
// returns is closed (or receives), so a test can keep messages in flight.
func WithGate(f func() <-chan struct{}) Option { return func(c *config) { c.gate = f } }

// WithAuth requires AUTH PLAIN or LOGIN with these credentials before MAIL.
// Authentication is allowed without TLS (the server is on loopback).
func WithAuth(user, pass string) Option {
	return func(c *config) { c.user, c.pass = user, pass }
}

// WithTLS offers STARTTLS with a self-signed certificate for 127.0.0.1 and
// localhost; Server.ClientTLS trusts it.
func WithTLS() Option { return func(c *config) { c.startTLS = true } }

// WithImplicitTLS serves TLS from the first byte (SMTPS, "tls" mode) with the
// same self-signed certificate.
func WithImplicitTLS() Option { return func(c *config) { c.implicit = true } }

// WithDiscard counts accepted messages without keeping them (benchmarks):
// Messages and Count see nothing, Len and WaitFor still count.
func WithDiscard() Option { return func(c *config) { c.discard = true } }

// WithoutPipelining leaves PIPELINING out of the EHLO reply, as a server
// that does not offer it (go-smtp always does). It works on connections
// without TLS, where the reply can be seen on the wire.
func WithoutPipelining() Option { return func(c *config) { c.noPipe = true } }

// WithTranscript records the bytes clients send, one entry per read from a
// connection (Reads): commands a client pipelined arrive in one read, a
// client waiting for each reply sends each command in a read of its own.
func WithTranscript() Option { return func(c *config) { c.transcript = true } }

// Server is a running test SMTP server.
type Server struct {
	Addr string // host:port
	Host string
	Port int
	// CertPool trusts the server's certificate (nil without TLS).
	CertPool *x509.CertPool

	cfg  config
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}
	once sync.Once

	mu        sync.Mutex
	msgs      []Message
	accepted  int
	changed   chan struct{} // closed and replaced whenever msgs grows
	conns     map[*smtp.Conn]*connState
	nconns    int
	mailTries int
	rcptTries map[string]int
	dataTries map[string]int
	reads     [][]byte
}

type connState struct {
	id       int
	accepted int
}

// Start listens on 127.0.0.1:0 and closes the server when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen starts a server on addr ("127.0.0.1:0" for any free port).
func Listen(addr string, opts ...Option) (*Server, error) {
	s := &Server{
		done:      make(chan struct{}),
		changed:   make(chan struct{}),
		conns:     make(map[*smtp.Conn]*connState),
		rcptTries: make(map[string]int),
		dataTries: make(map[string]int),
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "smtptest.localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = discardLogger{}
	var tlsCfg *tls.Config
	if s.cfg.startTLS || s.cfg.implicit {
		cert, pool, err := selfSigned()
		if err != nil {
			return nil, fmt.Errorf("smtptest: certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.CertPool = pool
		if s.cfg.startTLS {
			srv.TLSConfig = tlsCfg
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	if s.cfg.noPipe || s.cfg.transcript {
		ln = &wireListener{Listener: ln, s: s}
	}
	if s.cfg.implicit {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.ln, s.srv = ln, srv
	s.Addr = ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

// Close stops the server and drops every connection. It is safe to call
// more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		// Serve may not have registered the listener yet: close it here too.
		_ = s.ln.Close()
		_ = s.srv.Close()
	})
}

// ClientTLS returns a client TLS config that trusts this server's
// certificate (nil without TLS).
func (s *Server) ClientTLS() *tls.Config {
	if s.CertPool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.CertPool, ServerName: "127.0.0.1"}
}

// Messages returns a copy of every accepted message, in order of acceptance.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count returns how many accepted messages were addressed to rcpt (the
// envelope recipient, compared case-insensitively).
func (s *Server) Count(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		for _, to := range m.To {
			if strings.EqualFold(to, rcpt) {
				n++
			}
		}
	}
	return n
}

// Len returns how many messages were accepted.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Connections returns how many connections the server has accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nconns
}

// Reads returns what clients sent, one entry per read from a connection,
// in the order read (WithTranscript; nil without it).
func (s *Server) Reads() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.reads...)
}

// WaitFor blocks until at least n messages have been accepted in total, or
// ctx is done.
func (s *Server) WaitFor(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.accepted, s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("smtptest: waiting for %d messages, have %d: %w", n, got, ctx.Err())
		case <-s.done:
			return fmt.Errorf("smtptest: server closed with %d of %d messages", got, n)
		}
	}
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	// STARTTLS starts a new session on the same connection: keep its state.
	cs, ok := s.conns[c]
	if !ok {
		s.nconns++
		cs = &connState{id: s.nconns}
		s.conns[c] = cs
	}
	s.mu.Unlock()
	return &session{s: s, c: c, cs: cs, authed: s.cfg.user == ""}, nil
}

func (s *Server) accept(m Message) {
	if !s.cfg.discard {
		if msg, err := mail.ReadMessage(bytes.NewReader(m.Data)); err == nil {
			m.Header = msg.Header
		}
	}
	s.mu.Lock()
	s.accepted++
	if !s.cfg.discard {
		s.msgs = append(s.msgs, m)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// wireListener hands out connections that record reads (WithTranscript)
// and hide PIPELINING from the EHLO reply (WithoutPipelining).
type wireListener struct {
	net.Listener
	s *Server
}

func (l *wireListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c, s: l.s}, nil
}

type wireConn struct {
	net.Conn
	s *Server
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.s.cfg.transcript {
		c.s.mu.Lock()
		c.s.reads = append(c.s.reads, bytes.Clone(p[:n]))
		c.s.mu.Unlock()
	}
	return n, err
}

var pipeliningLine = []byte("250-PIPELINING\r\n")

func (c *wireConn) Write(p []byte) (int, error) {
	if c.s.cfg.noPipe && bytes.Contains(p, pipeliningLine) {
		// go-smtp never lists PIPELINING last, so the line is "250-".
		if _, err := c.Conn.Write(bytes.ReplaceAll(p, pipeliningLine, nil)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}
func (discardLogger) Println(...interface{})        {}

// selfSigned makes a short-lived ECDSA certificate for the loopback names.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
