// Package mailer builds newsletter messages with go-mail and delivers them
// over SMTP: a few long-lived connections reused for many messages, a shared
// rate limit, retries with backoff for temporary failures, and a
// classification of every failure as temporary, permanent or "possibly
// sent". It knows nothing of articles or subscribers.
package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
	"golang.org/x/time/rate"

	"github.com/digest-newsletter/digest/internal/config"
)

// Options configures a Mailer.
type Options struct {
	Host               string
	Port               int
	TLS                string // none | starttls | tls
	Username, Password string
	HELO               string
	InsecureSkipVerify bool
	// TLSConfig, if set, replaces the default client TLS config (tests use
	// it to trust a self-signed certificate).
	TLSConfig *tls.Config

	Concurrency      int
	Rate             float64 // messages per second over all connections, 0 = unlimited
	Timeout          time.Duration
	MaxPerConnection int // redial after this many messages, 0 = never

	Retries                  int // further attempts after the first for temporary failures
	RetryBackoff, MaxBackoff time.Duration

	DKIM   *DKIMOptions
	Logger *slog.Logger
}

// OptionsFrom maps the config sections onto Options; the password comes
// from the environment variable the config names.
func OptionsFrom(s config.SMTP, d config.Delivery, dkim *DKIMOptions, log *slog.Logger) Options {
	return Options{
		Host: s.Host, Port: s.Port, TLS: s.TLS,
		Username: s.Username, Password: s.Password(),
		HELO: s.HELO, InsecureSkipVerify: s.InsecureSkipVerify,
		Concurrency: s.Concurrency, Rate: s.Rate, Timeout: s.Timeout,
		MaxPerConnection: s.MaxPerConnection,
		Retries:          d.Retries, RetryBackoff: d.RetryBackoff, MaxBackoff: d.MaxBackoff,
		DKIM: dkim, Logger: log,
	}
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
		opts.Concurrency = config.DefaultSMTPConcurrency
	}
	if opts.Timeout <= 0 {
		opts.Timeout = config.DefaultSMTPTimeout
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = config.DefaultRetryBackoff
	}
	if opts.MaxBackoff < opts.RetryBackoff {
		opts.MaxBackoff = max(opts.RetryBackoff, config.DefaultMaxBackoff)
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
		// A burst of one keeps the rate even from the first message; with
		// several connections a small burst lets each start at once.
		m.limiter = rate.NewLimiter(rate.Limit(opts.Rate), 1)
	}
	m.tlsCfg = opts.TLSConfig
	if m.tlsCfg == nil {
		m.tlsCfg = &tls.Config{ServerName: opts.Host, InsecureSkipVerify: opts.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	}
	return m, nil
}

// Build returns the exact bytes that would be sent for msg, DKIM-signed
// when a key is configured (for --dry-run --out .eml files).
func (m *Mailer) Build(msg *Message) ([]byte, error) {
	return m.build(new(bytes.Buffer), msg)
}

// build renders into buf; the result aliases buf unless it is signed.
func (m *Mailer) build(buf *bytes.Buffer, msg *Message) ([]byte, error) {
	raw, err := build(buf, msg)
	if err != nil {
		return nil, err
	}
	if m.opts.DKIM != nil {
		return m.opts.DKIM.sign(raw)
	}
	return raw, nil
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

// Job is one message to deliver; ID is the caller's (a ledger row).
type Job struct {
	ID  int64
	Msg *Message
}

// Result is the outcome of one Job.
type Result struct {
	ID       int64
	Err      error // nil or *SendError
	Attempts int   // SMTP transactions tried (0 if none was)
}

// Deliver runs Concurrency workers, each with its own connection reused for
// many messages (RSET between, redial when broken or after
// MaxPerConnection), under one rate limit. It reads jobs until the channel
// closes or ctx is done, retries temporary failures with exponential
// backoff and jitter up to Retries times, and sends one Result per job it
// read, in any order. The returned channel is closed when every worker has
// finished. A message already in the SMTP transaction when ctx is cancelled
// is finished (bounded by Timeout); retries and waits stop at once.
func (m *Mailer) Deliver(ctx context.Context, jobs <-chan Job) <-chan Result {
	out := make(chan Result, m.opts.Concurrency)
	run := &runState{}
	var wg sync.WaitGroup
	for i := 0; i < m.opts.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := m.newWorker(run)
			defer w.close()
			w.loop(ctx, jobs, out)
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}

// loop takes new jobs while retries wait out their backoff, so a few
// greylisted recipients do not hold up everyone else's mail.
func (w *worker) loop(ctx context.Context, jobs <-chan Job, out chan<- Result) {
	var waiting []*pending // retries, each with its due time
	for ctx.Err() == nil {
		next := -1
		for i, p := range waiting {
			if next < 0 || p.due.Before(waiting[next].due) {
				next = i
			}
		}
		if next >= 0 && !time.Now().Before(waiting[next].due) {
			p := waiting[next]
			waiting = append(waiting[:next], waiting[next+1:]...)
			if res := w.try(ctx, p); res != nil {
				out <- *res
			} else {
				waiting = append(waiting, p)
			}
			continue
		}
		if jobs == nil && len(waiting) == 0 {
			return
		}
		var timer *time.Timer
		var due <-chan time.Time
		if next >= 0 {
			timer = time.NewTimer(time.Until(waiting[next].due))
			due = timer.C
		}
		select {
		case <-ctx.Done():
		case <-due:
		case job, ok := <-jobs:
			if !ok {
				jobs = nil // a nil channel blocks: wait for retries only
				break
			}
			p, res := w.prepare(job)
			if res == nil {
				res = w.try(ctx, p)
			}
			if res != nil {
				out <- *res
			} else {
				waiting = append(waiting, p)
			}
		}
		if timer != nil {
			timer.Stop()
		}
	}
	// Cancelled: retries not yet due stay pending for the next run.
	for _, p := range waiting {
		out <- Result{ID: p.job.ID, Err: p.last, Attempts: p.attempts}
	}
}

// runState is shared by the workers of one Deliver call.
type runState struct {
	mu    sync.Mutex
	fatal *SendError // a dial/auth failure no retry will fix (5xx at login)
}

func (r *runState) getFatal() *SendError {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

func (r *runState) setFatal(e *SendError) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = e
	}
	r.mu.Unlock()
}

// worker owns one SMTP connection.
type worker struct {
	m    *Mailer
	run  *runState
	conn *smtp.Client
	sent int          // messages accepted on conn
	buf  bytes.Buffer // reused for every message this worker builds
}

func (m *Mailer) newWorker(run *runState) *worker { return &worker{m: m, run: run} }

// pending is a job between attempts.
type pending struct {
	job      Job
	env      envelope
	data     []byte
	attempts int
	last     *SendError
	due      time.Time
}

// prepare builds a job's message; a non-nil Result means it failed for good.
func (w *worker) prepare(job Job) (*pending, *Result) {
	if job.Msg == nil {
		return nil, &Result{ID: job.ID, Err: &SendError{Op: "build", Err: errors.New("nil message")}}
	}
	data, err := w.m.build(&w.buf, job.Msg)
	var env envelope
	if err == nil {
		env, err = job.Msg.envelope()
	}
	if err != nil {
		return nil, &Result{ID: job.ID, Err: w.buildFailed(err)}
	}
	return &pending{job: job, env: env, data: data}, nil
}

// try runs one attempt. It returns the final Result, or nil when p is to
// be tried again at p.due.
func (w *worker) try(ctx context.Context, p *pending) *Result {
	final := func(err *SendError) *Result {
		r := &Result{ID: p.job.ID, Attempts: p.attempts}
		if err != nil {
			r.Err = err
		}
		return r
	}
	if f := w.run.getFatal(); f != nil {
		return final(f)
	}
	if w.m.limiter != nil {
		if err := w.m.limiter.Wait(ctx); err != nil {
			if p.last != nil {
				return final(p.last)
			}
			return final(&SendError{Op: "canceled", Temporary: true, Err: err})
		}
	}
	p.attempts++
	se := w.sendOnce(ctx, p.env, p.data)
	if se == nil {
		if p.attempts > 1 {
			w.m.log.Info("mailer: delivered after retry", "id", p.job.ID, "to", p.env.to, "attempts", p.attempts)
		}
		return final(nil)
	}
	p.last = se
	if !se.Temporary || se.Ambiguous || p.attempts > w.m.opts.Retries || w.run.getFatal() != nil {
		level := slog.LevelWarn
		if se.Ambiguous {
			level = slog.LevelError
		}
		w.m.log.Log(ctx, level, "mailer: not delivered", "id", p.job.ID, "to", p.env.to, "attempts", p.attempts, "err", se)
		return final(se)
	}
	d := w.m.backoff(p.attempts)
	p.due = time.Now().Add(d)
	// p.data may alias the worker's buffer, which the next job reuses.
	p.data = bytes.Clone(p.data)
	w.m.log.Debug("mailer: temporary failure, will retry", "id", p.job.ID, "to", p.env.to, "attempt", p.attempts, "in", d, "err", se)
	return nil
}

// buildFailed classifies a message that could not be built. A bad To
// address is that recipient's problem (permanent); anything else (From,
// List-Id, headers) is the caller's and would fail every message, so it
// stops the run without blaming anyone.
func (w *worker) buildFailed(err error) *SendError {
	var re recipientError
	if errors.As(err, &re) {
		return &SendError{Op: "build", Err: err}
	}
	se := &SendError{Op: "build", Temporary: true, Err: err}
	w.run.setFatal(se)
	w.m.log.Error("mailer: cannot build messages; stopping", "err", err)
	return se
}

// backoff is exponential with jitter: a random duration in [d/2, d) where d
// doubles from RetryBackoff up to MaxBackoff, so workers retrying the same
// greylisting server do not come back in step.
func (m *Mailer) backoff(attempt int) time.Duration {
	d := m.opts.RetryBackoff
	for i := 1; i < attempt && d < m.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, m.opts.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// sendOnce runs one SMTP transaction, dialling first if needed.
func (w *worker) sendOnce(ctx context.Context, env envelope, data []byte) *SendError {
	if w.conn != nil && w.m.opts.MaxPerConnection > 0 && w.sent >= w.m.opts.MaxPerConnection {
		w.quit()
	}
	if w.conn == nil {
		if err := w.dial(ctx); err != nil {
			return err
		}
	}
	se := w.transaction(env, data)
	if se != nil && se.Op == "mail" && se.Code >= 500 {
		// A refused sender is not the recipient's fault and will refuse
		// every message: stop the run, blame no address.
		se.Temporary = true
		w.run.setFatal(se)
		w.m.log.Error("mailer: server refuses the sender; stopping", "from", env.from, "err", se)
	}
	if se == nil {
		w.sent++
		// RSET between messages: a server that fails it is dropped, but the
		// message itself was accepted.
		if err := w.conn.Reset(); err != nil {
			w.drop()
		}
		return nil
	}
	if brokenConn(se) {
		w.drop()
	} else if err := w.conn.Reset(); err != nil {
		w.drop()
	}
	return se
}

func (w *worker) transaction(env envelope, data []byte) *SendError {
	c := w.conn
	// One deadline for the whole transaction: a stalled server cannot hold
	// a worker longer than Timeout.
	if err := c.UpdateDeadline(w.m.opts.Timeout); err != nil {
		return classify("mail", err)
	}
	if err := c.Mail("<" + env.from + ">"); err != nil {
		return classify("mail", err)
	}
	if err := c.Rcpt("<" + env.to + ">"); err != nil {
		return classify("rcpt", err)
	}
	wc, err := c.Data()
	if err != nil {
		return classify("data", err)
	}
	if _, err := wc.Write(data); err != nil {
		_ = wc.Close()
		return classify("data", err)
	}
	if err := wc.Close(); err != nil {
		return classify("close", err)
	}
	return nil
}

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
	w.conn, w.sent = conn, 0
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

// quit ends the session politely (after MaxPerConnection).
func (w *worker) quit() {
	if w.conn == nil {
		return
	}
	_ = w.conn.UpdateDeadline(w.m.opts.Timeout)
	if err := w.conn.Quit(); err != nil {
		_ = w.conn.Close()
	}
	w.conn = nil
}

// drop closes a connection that is no longer usable.
func (w *worker) drop() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

func (w *worker) close() { w.quit() }

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
