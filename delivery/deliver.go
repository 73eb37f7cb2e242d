package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
)

// deliver sends every pending row of the issue's ledger.
func (s *Sender) deliver(ctx context.Context, issue store.Issue, d *digest.Digest, frozen map[string][]byte, sum *Summary) error {
	cfg := s.o.Config
	counts, err := s.o.Store.IssueCounts(ctx, issue.ID)
	if err != nil {
		return err
	}
	sum.Recipients = counts.Recipients
	todo := counts.Pending + counts.FailedTemp
	s.log.Info("sending", "issue", issue.ID, "recipients", counts.Recipients, "to_send", todo, "already_sent", counts.Sent)

	v := newVariants(s.o.Renderer, d)
	if err := v.thaw(frozen); err != nil {
		return err
	}
	conc := max(cfg.SMTP.Concurrency, 1)
	// slots bounds "handed to SMTP but not yet marked" to conc messages:
	// that is the most a kill can make go twice.
	slots := make(chan struct{}, conc)
	jobs := make(chan mailer.Job)
	results := s.o.Mailer.Deliver(ctx, jobs)

	var (
		mu       sync.Mutex
		inflight = map[int64]recipient{}
		feedErr  error
		skips    []store.Mark
	)
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		defer close(jobs)
		flushSkips := func() {
			if len(skips) == 0 {
				return
			}
			if err := s.o.Store.MarkDeliveries(context.WithoutCancel(ctx), skips); err != nil {
				s.log.Error("marking skipped deliveries", "error", err)
			}
			mu.Lock()
			sum.Skipped += len(skips)
			mu.Unlock()
			skips = skips[:0]
		}
		feedErr = s.o.Store.EachPending(ctx, issue.ID, 512, func(dl store.Delivery) error {
			if dl.SubscriberStatus != store.StatusConfirmed {
				// Unsubscribed or bounced since the issue was frozen:
				// honour it at once.
				skips = append(skips, store.Mark{DeliveryID: dl.ID, Status: store.DeliverySkipped, Error: "subscriber " + dl.SubscriberStatus, At: s.o.Now()})
				if len(skips) >= 256 {
					flushSkips()
				}
				return nil
			}
			rc := recipient{deliveryID: dl.ID, subscriberID: dl.SubscriberID, stamp: dl.SubscriberStamp, email: dl.Email, name: dl.Name, topics: dl.Topics}
			msg, err := s.message(issue, v, rc)
			if err != nil {
				return err
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			mu.Lock()
			inflight[dl.ID] = rc
			mu.Unlock()
			select {
			case jobs <- mailer.Job{ID: dl.ID, Msg: msg}:
			case <-ctx.Done():
				<-slots
				return ctx.Err()
			}
			return nil
		})
		flushSkips()
	}()

	// Group commit: take one result, then whatever else is ready, and mark
	// them in one transaction before freeing their slots.
	batch := make([]store.Mark, 0, conc)
	var markErr error
	for res := range results {
		batch = append(batch[:0], s.mark(ctx, res, &mu, inflight, sum)...)
		n := 1 // every result held a slot, marked or not
	drain:
		for n < cfg.Delivery.MarkBatch {
			select {
			case r, ok := <-results:
				if !ok {
					break drain
				}
				batch = append(batch, s.mark(ctx, r, &mu, inflight, sum)...)
				n++
			default:
				break drain
			}
		}
		if len(batch) > 0 && markErr == nil {
			// A cancelled ctx must not stop us recording what was sent.
			if err := s.o.Store.MarkDeliveries(context.WithoutCancel(ctx), batch); err != nil {
				markErr = err
				s.log.Error("marking deliveries failed: these may be sent again on the next run", "error", err, "count", len(batch))
			}
		}
		for range n {
			<-slots
		}
		if s.o.Progress != nil {
			mu.Lock()
			cp := *sum
			mu.Unlock()
			s.o.Progress(cp)
		}
	}
	<-feedDone
	if markErr != nil {
		return fmt.Errorf("delivery: ledger: %w", markErr)
	}
	if feedErr != nil && !errors.Is(feedErr, context.Canceled) && !errors.Is(feedErr, context.DeadlineExceeded) {
		return fmt.Errorf("delivery: %w", feedErr)
	}
	return nil
}

// mark turns a mailer result into a ledger mark and updates the summary.
func (s *Sender) mark(ctx context.Context, r mailer.Result, mu *sync.Mutex, inflight map[int64]recipient, sum *Summary) []store.Mark {
	mu.Lock()
	rc := inflight[r.ID]
	delete(inflight, r.ID)
	mu.Unlock()
	now := s.o.Now()
	m := store.Mark{DeliveryID: r.ID, Attempts: r.Attempts, At: now}
	var se *mailer.SendError
	switch {
	case r.Err != nil && (errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) && !(errors.As(r.Err, &se) && se.Ambiguous):
		// Never handed to the server: stays pending for the next run.
		return nil
	case r.Err == nil:
		m.Status = store.DeliverySent
	case errors.As(r.Err, &se) && se.Ambiguous:
		// The server may have taken it: sending again risks a double,
		// marking sent risks a loss only if it really failed. Record it.
		m.Status, m.Error = store.DeliverySent, "possibly sent: "+r.Err.Error()
		s.log.Warn("delivery outcome unknown, counted as sent", "email", rc.email, "error", r.Err)
	case mailer.IsPermanent(r.Err):
		m.Status, m.Error = store.DeliveryFailedPerm, r.Err.Error()
		bounced, err := s.o.Store.RecordBounce(context.WithoutCancel(ctx), rc.subscriberID, true, r.Err.Error(), s.o.Config.Delivery.BounceAfter, s.o.Config.Delivery.SoftBounceAfter, now)
		if err != nil {
			s.log.Error("recording bounce", "email", rc.email, "error", err)
		}
		s.log.Warn("permanent failure", "email", rc.email, "error", r.Err, "bounced", bounced)
	default:
		m.Status, m.Error = store.DeliveryFailedTemp, r.Err.Error()
		s.log.Warn("temporary failure: left for the next run", "email", rc.email, "error", r.Err)
	}
	mu.Lock()
	switch m.Status {
	case store.DeliverySent:
		sum.Sent++
	case store.DeliveryFailedPerm:
		sum.FailedPermanent++
	case store.DeliveryFailedTemp:
		sum.FailedTemporary++
	}
	mu.Unlock()
	return []store.Mark{m}
}
