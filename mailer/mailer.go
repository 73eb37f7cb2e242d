// Package mailer builds newsletter messages and delivers them over SMTP
// (RFC 5321) with github.com/wneessen/go-mail: a few long-lived connections
// reused for many messages, a shared rate limit, retries with backoff for
// temporary failures, and a classification of every failure as temporary,
// permanent or "possibly sent". It knows nothing of articles or
// subscribers.
//
// The rules it keeps:
//   - A message for many recipients is laid out once (NewLayout): headers
//     shared by all written by go-mail, both parts encoded quoted-printable
//     (RFC 2045) once; each recipient's Copy only splices its own values
//     (To, Message-ID, List-Unsubscribe, links in the body) into the
//     encoded bytes, then is DKIM-signed over its final headers.
//   - When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go
//     in one flight and every reply is checked in order: a refused RCPT is
//     that recipient's failure and the message is not sent. Otherwise the
//     commands go one by one through go-mail's client.
//   - No RSET after a success (RFC 5321 allows the next MAIL at once);
//     every command and reply has its own deadline (Options.Timeout).
//   - A connection lost after the end of DATA, before the reply, is
//     "possibly sent" (SendError.Ambiguous): never retried here, the caller
//     decides.
//
// Files: mailer.go (Options, New, Send, Build), deliver.go (the pool of
// workers, retries), session.go (one SMTP transaction), dial.go
// (connection, TLS, AUTH), message.go and layout.go (building), qp.go
// (quoted-printable), dkim.go, errors.go.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for the zero values of Options.
const (
	DefaultConcurrency  = 4
	DefaultTimeout      = 30 * time.Second
	DefaultRetryBackoff = 500 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
)

// Options configures a Mailer. Zero values take the defaults above.
type Options struct {
	Host               string
	Port               int
	TLS                string // none | starttls (default) | tls
	Username, Password string
	HELO               string
	InsecureSkipVerify bool
	// TLSConfig, if set, replaces the default client TLS config (tests use
	// it to trust a self-signed certificate).
	TLSConfig *tls.Config

	Concurrency int     // connections, each reused for many messages
	Rate        float64 // messages per second over all connections, 0 = unlimited
	// Timeout bounds each SMTP command and its reply, the message data
	// and the dial (RFC 5321 4.5.3.2 gives each step its own timeout).
	Timeout          time.Duration
	MaxPerConnection int // redial after this many messages, 0 = never

	Retries                  int // further attempts after the first for temporary failures
	RetryBackoff, MaxBackoff time.Duration

	DKIM   *DKIMOptions
	Logger *slog.Logger
}

// Mailer sends messages. It is safe for concurrent use.
type Mailer struct {
	opts    Options
	log     *slog.Logger
	limiter *rate.Limiter
	tlsCfg  *tls.Config
}

// New checks opts and fills in defaults.
func New(opts Options) (*Mailer, error) {
	if opts.Host == "" {
		return nil, errors.New("mailer: no SMTP host")
	}
	if opts.Port <= 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("mailer: SMTP port %d", opts.Port)
	}
	switch opts.TLS {
	case "":
		opts.TLS = "starttls"
	case "none", "starttls", "tls":
	default:
		return nil, fmt.Errorf("mailer: tls %q: want none, starttls or tls", opts.TLS)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.MaxBackoff < opts.RetryBackoff {
		opts.MaxBackoff = max(opts.RetryBackoff, DefaultMaxBackoff)
	}
	if opts.Rate < 0 {
		return nil, fmt.Errorf("mailer: rate %v", opts.Rate)
	}
	if opts.DKIM != nil {
		if err := opts.DKIM.check(); err != nil {
			return nil, err
		}
	}
	m := &Mailer{opts: opts, log: opts.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if opts.Rate > 0 {
		// A burst of one keeps the rate even from the first message.
		m.limiter = rate.NewLimiter(rate.Limit(opts.Rate), 1)
	}
	m.tlsCfg = opts.TLSConfig
	if m.tlsCfg == nil {
		m.tlsCfg = &tls.Config{ServerName: opts.Host, InsecureSkipVerify: opts.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	}
	return m, nil
}

// Build returns the exact bytes that would be sent for msg (a *Message or
// a *Copy), DKIM-signed when a key is configured (for --dry-run --out .eml
// files).
func (m *Mailer) Build(msg Mail) ([]byte, error) {
	c, err := msg.asCopy()
	if err != nil {
		return nil, err
	}
	data, _, err := m.compose(nil, c)
	return data, err
}

// compose appends c's bytes to dst, signed when DKIM is configured, and
// returns its envelope.
func (m *Mailer) compose(dst []byte, c *Copy) ([]byte, envelope, error) {
	raw, env, err := c.appendTo(dst)
	if err != nil {
		return nil, envelope{}, err
	}
	if m.opts.DKIM != nil {
		raw, err = m.opts.DKIM.sign(raw)
	}
	return raw, env, err
}

// Send delivers one message on a connection of its own (confirmation
// emails), with the same retries and classification as Deliver.
func (m *Mailer) Send(ctx context.Context, msg *Message) error {
	w := m.newWorker(&runState{})
	defer w.close()
	p, res := w.prepare(Job{Msg: msg})
	for res == nil {
		if res = w.try(ctx, p); res != nil {
			break
		}
		t := time.NewTimer(time.Until(p.due))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return p.last
		}
	}
	return res.Err
}
