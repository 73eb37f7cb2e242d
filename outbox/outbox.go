// Package outbox sends transactional mail (confirmations, welcome issues,
// help replies) from the store's outbox table, so that nothing a visitor
// does waits on SMTP: the web handler or the inbound poller records the
// message in the same transaction as the change that causes it, answers at
// once, and a Worker sends it with retries and backoff through the same
// mailer as the digests.
//
// Rules:
//   - a row is claimed before it is sent, in a short transaction, so two
//     workers (in one process or several) never send the same row; a claim
//     whose holder died expires after ClaimFor and the row is sent again;
//   - a row is marked sent right after the server accepts it; only a crash
//     between the two, or an outcome SMTP leaves unknown (RFC 1047), can
//     send it twice;
//   - a permanent refusal (5xx) ends the row; anything else retries with
//     exponential backoff until GiveUpAfter;
//   - confirmation mails share a budget per hour across every process on
//     the store; beyond it they wait in the outbox, newest first, so a
//     flood of fake sign-ups neither mails thousands of strangers nor
//     queues a real reader behind them for long.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
)

// Kinds of transactional mail.
const (
	KindConfirm = "confirm"
	KindWelcome = "welcome"
	KindReply   = "reply"
)

// Store is the outbox table; *store.DB satisfies it.
type Store interface {
	Enqueue(ctx context.Context, m store.OutboxMail) (int64, error)
	ClaimOutbox(ctx context.Context, c store.Claim) ([]store.OutboxMail, error)
	OutboxSent(ctx context.Context, id int64, holder string, at time.Time) error
	OutboxRetry(ctx context.Context, id int64, holder string, due time.Time, reason string) error
	OutboxFailed(ctx context.Context, id int64, holder, reason string) error
	NextOutboxDue(ctx context.Context) (time.Time, bool, error)
	PurgeOutbox(ctx context.Context, before time.Time) (int64, error)
}

// Sender delivers one message; *mailer.Mailer satisfies it.
type Sender interface {
	Send(ctx context.Context, msg *mailer.Message) error
}

// Options configures a Worker. Store, Sender and Holder are required.
type Options struct {
	Store  Store
	Sender Sender
	// Holder names this worker in its claims (host:pid:random).
	Holder string
	Logger *slog.Logger
	Now    func() time.Time
	// ConfirmationsPerHour is the budget of confirmation mails shared by
	// every process on the store; 0 means DefaultConfirmationsPerHour.
	ConfirmationsPerHour int
	// RetryBase and RetryMax bound the backoff between attempts.
	RetryBase, RetryMax time.Duration
	// GiveUpAfter ends a row that has not gone out this long after it was
	// recorded (a confirmation link expires anyway).
	GiveUpAfter time.Duration
	// ClaimFor is how long a claim holds before another worker may take
	// the row; it must exceed the mailer's time for one message.
	ClaimFor time.Duration
	// Poll is how often Run looks for mail recorded by other processes.
	Poll time.Duration
	// Keep is how long sent and failed rows stay before they are purged.
	Keep time.Duration
}

// Defaults.
const (
	DefaultConfirmationsPerHour = 120
	DefaultRetryBase            = 30 * time.Second
	DefaultRetryMax             = 30 * time.Minute
	DefaultGiveUpAfter          = 72 * time.Hour
	DefaultClaimFor             = 5 * time.Minute
	DefaultPoll                 = 5 * time.Second
	DefaultKeep                 = 7 * 24 * time.Hour
	claimBatch                  = 16
)

// Worker sends due outbox rows.
type Worker struct {
	o      Options
	log    *slog.Logger
	budget *store.Budget
	wake   chan struct{}
}

// New checks o and fills in the defaults.
func New(o Options) (*Worker, error) {
	if o.Store == nil || o.Sender == nil || o.Holder == "" {
		return nil, errors.New("outbox: Store, Sender and Holder are required")
	}
	if o.ConfirmationsPerHour < 0 {
		return nil, fmt.Errorf("outbox: confirmations per hour must not be negative, got %d", o.ConfirmationsPerHour)
	}
	if o.ConfirmationsPerHour == 0 {
		o.ConfirmationsPerHour = DefaultConfirmationsPerHour
	}
	setDur(&o.RetryBase, DefaultRetryBase)
	setDur(&o.RetryMax, DefaultRetryMax)
	setDur(&o.GiveUpAfter, DefaultGiveUpAfter)
	setDur(&o.ClaimFor, DefaultClaimFor)
	setDur(&o.Poll, DefaultPoll)
	setDur(&o.Keep, DefaultKeep)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := o.ConfirmationsPerHour
	return &Worker{
		o: o, log: o.Logger, wake: make(chan struct{}, 1),
		// A burst of a tenth of the hour's budget lets a few sign-ups at
		// once go out together; after that one every hour/n.
		budget: &store.Budget{Name: "confirmations", Kind: KindConfirm, Every: time.Hour / time.Duration(n), Burst: max(1, n/10)},
	}, nil
}

func setDur(p *time.Duration, v time.Duration) {
	if *p <= 0 {
		*p = v
	}
}

// Encode turns a message into an outbox row's payload.
func Encode(msg *mailer.Message) ([]byte, error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("outbox: encode message: %w", err)
	}
	return b, nil
}

// Mail is the outbox row for msg of kind about subscriberID (0: none),
// recorded at at.
func Mail(kind string, subscriberID int64, msg *mailer.Message, at time.Time) (store.OutboxMail, error) {
	b, err := Encode(msg)
	if err != nil {
		return store.OutboxMail{}, err
	}
	return store.OutboxMail{Kind: kind, SubscriberID: subscriberID, Message: b, Created: at}, nil
}

// Enqueue records msg and wakes the worker.
func (w *Worker) Enqueue(ctx context.Context, kind string, subscriberID int64, msg *mailer.Message) error {
	m, err := Mail(kind, subscriberID, msg, w.o.Now())
	if err != nil {
		return err
	}
	if _, err := w.o.Store.Enqueue(ctx, m); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	w.Wake()
	return nil
}

// Wake tells Run that mail was recorded in this process: it sends at once
// instead of at the next poll. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stats counts what one Flush did.
type Stats struct {
	Sent, Retrying, Failed int
}

// Flush sends every row that is due now and returns when none is left
// (rows held back by backoff or the budget stay for later). One-shot
// commands call it before they exit. Errors marking a row are returned;
// a row whose send failed is not an error here, it is retried later.
func (w *Worker) Flush(ctx context.Context) (Stats, error) {
	var st Stats
	for ctx.Err() == nil {
		now := w.o.Now()
		rows, err := w.o.Store.ClaimOutbox(ctx, store.Claim{
			Holder: w.o.Holder, Now: now, Until: now.Add(w.o.ClaimFor), Limit: claimBatch, Budget: w.budget,
		})
		if err != nil {
			return st, fmt.Errorf("outbox: %w", err)
		}
		if len(rows) == 0 {
			return st, nil
		}
		for _, row := range rows {
			if err := w.send(ctx, row, &st); err != nil {
				return st, err
			}
		}
	}
	return st, ctx.Err()
}

// send delivers one claimed row and marks it. Marks are written even when
// ctx is cancelled: a sent message must be recorded.
func (w *Worker) send(ctx context.Context, row store.OutboxMail, st *Stats) error {
	mctx := context.WithoutCancel(ctx)
	var msg mailer.Message
	if err := json.Unmarshal(row.Message, &msg); err != nil {
		st.Failed++
		w.log.Error("outbox: unreadable message, given up", "id", row.ID, "kind", row.Kind, "error", err)
		return w.mark(w.o.Store.OutboxFailed(mctx, row.ID, w.o.Holder, "unreadable message: "+err.Error()))
	}
	err := w.o.Sender.Send(ctx, &msg)
	now := w.o.Now()
	switch {
	case err == nil:
		st.Sent++
		w.log.Info("outbox: sent", "id", row.ID, "kind", row.Kind, "subscriber", row.SubscriberID)
		return w.mark(w.o.Store.OutboxSent(mctx, row.ID, w.o.Holder, now))
	case mailer.IsPermanent(err):
		st.Failed++
		w.log.Warn("outbox: refused by the mail server, given up", "id", row.ID, "kind", row.Kind, "error", err)
		return w.mark(w.o.Store.OutboxFailed(mctx, row.ID, w.o.Holder, err.Error()))
	case now.Sub(row.Created) >= w.o.GiveUpAfter:
		st.Failed++
		w.log.Warn("outbox: not sent in time, given up", "id", row.ID, "kind", row.Kind, "error", err)
		return w.mark(w.o.Store.OutboxFailed(mctx, row.ID, w.o.Holder, "gave up: "+err.Error()))
	default:
		st.Retrying++
		due := now.Add(w.backoff(row.Attempts))
		w.log.Warn("outbox: not sent, will retry", "id", row.ID, "kind", row.Kind, "attempt", row.Attempts, "next", due, "error", err)
		return w.mark(w.o.Store.OutboxRetry(mctx, row.ID, w.o.Holder, due, err.Error()))
	}
}

// mark turns a lost claim (another worker took the row over after ours
// expired) into a log line: that worker owns the row now.
func (w *Worker) mark(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		w.log.Warn("outbox: claim expired before the row was marked", "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// backoff is RetryBase doubled per attempt, at most RetryMax.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.o.RetryBase
	for i := 1; i < attempts && d < w.o.RetryMax; i++ {
		d *= 2
	}
	return min(d, w.o.RetryMax)
}

// Run sends outbox mail until ctx is done: at once when woken, else when
// the next row falls due, and at least every Poll (for rows other
// processes record). It purges old rows once an hour. Errors are logged:
// a busy store is no reason to stop.
func (w *Worker) Run(ctx context.Context) {
	lastPurge := time.Time{}
	for ctx.Err() == nil {
		if _, err := w.Flush(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("outbox: flush", "error", err)
		}
		now := w.o.Now()
		if now.Sub(lastPurge) >= time.Hour {
			if n, err := w.o.Store.PurgeOutbox(ctx, now.Add(-w.o.Keep)); err != nil && ctx.Err() == nil {
				w.log.Warn("outbox: purge", "error", err)
			} else if n > 0 {
				w.log.Info("outbox: purged old rows", "count", n)
			}
			lastPurge = now
		}
		wait := w.o.Poll
		if next, ok, err := w.o.Store.NextOutboxDue(ctx); err == nil && ok {
			// Budget-held rows are due already: the poll paces them.
			if d := next.Sub(w.o.Now()); d > 0 && d < wait {
				wait = d
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}
