package mailer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// Mail is what Deliver sends: a *Message built whole, or a *Copy of a
// Layout shared by many recipients.
type Mail interface {
	// asCopy returns the message as one recipient's Copy of a Layout.
	asCopy() (*Copy, error)
}

// Job is one message to deliver; ID is the caller's (a ledger row).
type Job struct {
	ID  int64
	Msg Mail
}

// Result is the outcome of one Job.
type Result struct {
	ID       int64
	Err      error // nil or *SendError
	Attempts int   // SMTP transactions tried (0 if none was)
}

// Deliver runs Concurrency workers, each with its own connection reused for
// many messages (redial when broken or after MaxPerConnection), under one
// rate limit. It reads jobs until the channel closes or ctx is done,
// retries temporary failures with exponential backoff and jitter up to
// Retries times, and sends one Result per job it read, in any order. The returned channel is closed when every worker has
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
	sess session // what the server offered on conn
	sent int     // messages accepted on conn
	buf  []byte  // reused for every message this worker builds
}

func (m *Mailer) newWorker(run *runState) *worker { return &worker{m: m, run: run} }

// pending is a job between attempts.
type pending struct {
	job      Job
	env      envelope
	data     []byte // the message and the end-of-data mark (endOfData)
	attempts int
	last     *SendError
	due      time.Time
}

// prepare builds a job's message; a non-nil Result means it failed for good.
func (w *worker) prepare(job Job) (*pending, *Result) {
	if job.Msg == nil {
		return nil, &Result{ID: job.ID, Err: &SendError{Op: "build", Err: errors.New("nil message")}}
	}
	c, err := job.Msg.asCopy()
	var data []byte
	var env envelope
	if err == nil {
		data, env, err = w.m.compose(w.buf[:0], c)
	}
	if err != nil {
		return nil, &Result{ID: job.ID, Err: w.buildFailed(err)}
	}
	// The mark goes with the message, so both leave in one write.
	data = append(data, endOfData...)
	if cap(data) > cap(w.buf) {
		w.buf = data[:0]
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
