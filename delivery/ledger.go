package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
)

// LedgerError is a claim or a mark that could not be written (disk full,
// file gone). Sending stops at once: at most the messages in flight were
// sent without a record, and go again on the next run.
type LedgerError struct {
	Issue int64
	Err   error
}

func (e *LedgerError) Error() string {
	return fmt.Sprintf("delivery: issue %d: the ledger cannot be written, sending stopped (messages in flight may go again on the next run): %v", e.Issue, e.Err)
}

func (e *LedgerError) Unwrap() error { return e.Err }

// errClaimsLost stops a sender whose claims could have expired (renewals
// failed, or the process was stopped longer than the claim TTL): another
// sender may hold its rows now.
var errClaimsLost = errors.New("delivery: claims could not be renewed in time: stopped so that no other sender's recipients go twice")

// pass is one sender's work on an issue: claim rows, hand them to the
// mailer, mark the results.
type pass struct {
	s      *Sender
	issue  store.Issue
	v      *variants
	holder string
	lease  *claimLease
	// slots bounds "handed to SMTP but not yet marked" to MaxInFlight
	// messages: that is the most a kill can make go twice.
	slots chan struct{}
	// starved tells collect that a sender waits for a slot: commit the
	// group now rather than wait for a fuller one.
	starved chan struct{}
	stop    context.CancelCauseFunc

	mu       sync.Mutex
	sum      *Summary
	inflight map[int64]recipient
	breaker  breaker
	markErr  error
	handed   uint64 // messages handed to the mailer so far
}

// deliver sends the issue's open rows this sender can claim, and waits for
// those other live senders hold.
func (s *Sender) deliver(ctx context.Context, is *frozen, sum *Summary) error {
	counts, err := s.o.Store.IssueCounts(ctx, is.ID)
	if err != nil {
		return err
	}
	sum.Recipients = counts.Recipients
	s.log.Info("sending", "issue", is.ID, "recipients", counts.Recipients, "to_send", counts.Pending+counts.FailedTemp, "already_sent", counts.Sent)
	v := newVariants(s.o.Renderer, is.digest)
	v.issueURL = issueURL(s.o.Archive, s.o.Links, is.ID)
	if err := v.thaw(is.rendered); err != nil {
		return err
	}
	p := &pass{
		s: s, issue: is.Issue, v: v, holder: s.o.Holder + ":" + randomID(),
		slots: make(chan struct{}, MaxInFlight(s.o.Concurrency, s.o.MarkBatch)), starved: make(chan struct{}, 1), sum: sum, inflight: map[int64]recipient{},
		breaker: breaker{limit: s.o.Breaker},
	}
	return p.run(ctx)
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (p *pass) run(ctx context.Context) error {
	sendCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	p.stop = stop
	p.lease = newClaimLease(p.s.o.ClaimTTL)
	renewed := p.lease.keep(context.WithoutCancel(ctx), p.renew, func() { stop(errClaimsLost) })

	jobs := make(chan mailer.Job)
	results := p.s.o.Mailer.Deliver(sendCtx, jobs)
	fed := make(chan error, 1)
	go func() { fed <- p.feed(sendCtx, jobs) }()
	p.collect(ctx, results)
	feedErr := <-fed
	p.finishStreak(ctx)
	p.lease.end()
	<-renewed

	// Give back what this pass still holds (rows claimed but not sent
	// after a stop, temporary failures), so another sender need not wait
	// for the expiry.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.s.o.ClaimTTL)
	defer cancel()
	relErr := p.s.o.Store.ReleaseClaims(rctx, p.issue.ID, p.holder)
	if relErr != nil {
		p.s.log.Warn("releasing claims failed: they expire by themselves", "error", relErr, "claim_ttl", p.s.o.ClaimTTL)
	}

	switch cause := context.Cause(sendCtx); {
	case p.markErr != nil:
		return &LedgerError{Issue: p.issue.ID, Err: p.markErr}
	case feedErr != nil:
		return feedErr
	case cause != nil && ctx.Err() == nil:
		return cause // paused, claims lost
	}
	return ctx.Err()
}

func (p *pass) renew(ctx context.Context, until time.Time) error {
	_, err := p.s.o.Store.RenewClaims(ctx, p.issue.ID, p.holder, until)
	if err != nil {
		p.s.log.Warn("renewing claims failed: retrying", "issue", p.issue.ID, "error", err)
	}
	return err
}

// feed hands the claimed rows to the mailer, one slot per message, until
// nothing is left that no live sender holds, or ctx ends. Rows whose
// subscriber left since the issue was frozen are marked skipped.
func (p *pass) feed(ctx context.Context, jobs chan<- mailer.Job) error {
	defer close(jobs)
	batches := make(chan []store.Delivery)
	claimed := make(chan error, 1)
	go func() { claimed <- p.claimAhead(ctx, batches) }()
	var skips []store.Mark
	flush := func() bool {
		if len(skips) == 0 {
			return true
		}
		if err := p.s.o.Store.MarkDeliveries(context.WithoutCancel(ctx), skips); err != nil {
			p.ledgerFailed(err)
			return false
		}
		p.mu.Lock()
		p.sum.Skipped += len(skips)
		p.mu.Unlock()
		skips = skips[:0]
		return true
	}
	for rows := range batches {
		for _, dl := range rows {
			if dl.SubscriberStatus != store.StatusConfirmed {
				// Unsubscribed or bounced since the issue was frozen:
				// honour it at once.
				skips = append(skips, store.Mark{DeliveryID: dl.ID, Status: store.DeliverySkipped,
					Error: "subscriber " + dl.SubscriberStatus, Attempts: dl.Attempts, At: p.s.o.Now()})
				if len(skips) >= p.s.o.MarkBatch && !flush() {
					break
				}
				continue
			}
			rc := recipient{deliveryID: dl.ID, subscriberID: dl.SubscriberID, stamp: dl.SubscriberStamp, email: dl.Email, name: dl.Name, topics: dl.Topics,
				attempts: dl.Attempts}
			if !p.hand(ctx, jobs, rc) {
				break
			}
		}
		if !flush() || ctx.Err() != nil {
			break
		}
	}
	// Every early stop above cancelled ctx, which ends claimAhead.
	for range batches {
	}
	return <-claimed
}

// claimAhead claims batches of rows for feed, one batch ahead of it, so
// the mailer never waits on the ledger. With nothing left to claim it
// waits for the rows other live senders hold, which may come free.
func (p *pass) claimAhead(ctx context.Context, out chan<- []store.Delivery) error {
	defer close(out)
	waiting := false
	for ctx.Err() == nil {
		now := time.Now()
		until := now.Add(p.s.o.ClaimTTL)
		rows, err := p.s.o.Store.ClaimDeliveries(ctx, p.issue.ID, p.holder, p.s.o.ClaimBatch, now, until)
		if err != nil {
			if ctx.Err() == nil {
				p.ledgerFailed(err)
			}
			return nil
		}
		if len(rows) == 0 {
			more, err := p.waitForOthers(ctx, now, &waiting)
			if err != nil || !more {
				return err
			}
			continue
		}
		p.lease.claimed(until)
		select {
		case out <- rows:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// hand gives one message to the mailer once a slot is free. It reports
// false when sending has to stop.
func (p *pass) hand(ctx context.Context, jobs chan<- mailer.Job, rc recipient) bool {
	msg, err := p.s.message(p.issue, p.v, rc)
	if err != nil {
		p.stop(fmt.Errorf("delivery: message for %s: %w", rc.email, err))
		return false
	}
	select {
	case p.slots <- struct{}{}:
	default:
		select {
		case p.starved <- struct{}{}:
		default:
		}
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return false
		}
	}
	// Stops are signalled before slots are given back, so a stop is seen
	// here even when the slot came free with it.
	if ctx.Err() != nil || !p.lease.valid() {
		<-p.slots
		p.stop(errClaimsLost) // a no-op after an earlier stop
		return false
	}
	p.mu.Lock()
	p.handed++
	rc.seq = p.handed
	p.inflight[rc.deliveryID] = rc
	p.mu.Unlock()
	select {
	case jobs <- mailer.Job{ID: rc.deliveryID, Msg: msg}:
		return true
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.inflight, rc.deliveryID)
		p.mu.Unlock()
		<-p.slots
		return false
	}
}

// waitForOthers is called when nothing was left to claim at now. It
// reports whether rows other live senders hold may still come free (after
// waiting a little for them), or whether the issue has nothing open but
// this sender's own. Claims are counted as of the claim's now, not the
// clock's: one that expired in between was neither claimable then nor
// live now, and its rows would be left pending.
func (p *pass) waitForOthers(ctx context.Context, now time.Time, logged *bool) (bool, error) {
	n, next, err := p.s.o.Store.OtherClaims(ctx, p.issue.ID, p.holder, now)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, fmt.Errorf("delivery: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	if !*logged {
		p.s.log.Info("waiting for recipients another sender is sending to", "issue", p.issue.ID, "claimed", n, "expiry", next.Format(time.RFC3339))
		*logged = true
	}
	// Their rows come free when marked (poll) or when the claim expires.
	wait := min(max(p.s.o.ClaimTTL/20, 20*time.Millisecond), 500*time.Millisecond)
	if d := time.Until(next); d < wait {
		wait = max(d, 0) + time.Millisecond
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, nil
	case <-t.C:
		return true, nil
	}
}

// collect marks results as they come, in groups: take one result, then
// whatever else is ready, waiting up to MarkInterval for a fuller group
// while the senders still have slots, and commit their marks in one
// transaction before their slots are given back. Since the window is
// Concurrency + MarkBatch, one group commits while the next Concurrency
// messages are being sent: SMTP never waits for a mark.
func (p *pass) collect(ctx context.Context, results <-chan mailer.Result) {
	batch := make([]store.Mark, 0, p.s.o.MarkBatch)
	wait := time.NewTimer(0)
	<-wait.C
	for res := range results {
		batch = append(batch[:0], p.outcome(ctx, res)...)
		n := 1 // every result held a slot, marked or not
		waiting := false
	gather:
		for n < p.s.o.MarkBatch {
			select {
			case r, ok := <-results:
				if !ok {
					break gather
				}
				batch = append(batch, p.outcome(ctx, r)...)
				n++
				continue
			default:
			}
			// Nothing ready: wait for more only while no sender is
			// starved of slots, and not past MarkInterval.
			if !waiting {
				select {
				case <-p.starved: // stale: it predates this group
				default:
				}
				wait.Reset(p.s.o.MarkInterval)
				waiting = true
			}
			select {
			case r, ok := <-results:
				if !ok {
					break gather
				}
				batch = append(batch, p.outcome(ctx, r)...)
				n++
			case <-p.starved:
				break gather
			case <-wait.C:
				waiting = false
				break gather
			}
		}
		if waiting && !wait.Stop() {
			<-wait.C
		}
		p.commit(ctx, batch)
		for range n {
			<-p.slots
		}
		p.progress()
	}
}

// commit writes marks. A cancelled ctx must not stop recording what was
// sent; a failed write stops sending before the slots are given back.
func (p *pass) commit(ctx context.Context, marks []store.Mark) {
	if len(marks) == 0 {
		return
	}
	if err := p.s.o.Store.MarkDeliveries(context.WithoutCancel(ctx), marks); err != nil {
		p.s.log.Error("marking deliveries failed: sending stops; these may be sent again on the next run", "error", err, "count", len(marks))
		p.ledgerFailed(err)
	}
}

func (p *pass) ledgerFailed(err error) {
	p.mu.Lock()
	if p.markErr == nil {
		p.markErr = err
	}
	p.mu.Unlock()
	p.stop(err)
}

func (p *pass) progress() {
	if p.s.o.Progress == nil {
		return
	}
	p.mu.Lock()
	cp := *p.sum
	p.mu.Unlock()
	p.s.o.Progress(cp)
}
