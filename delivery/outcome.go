package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
)

// PausedError is the breaker's verdict: Count recipients in a row failed
// with the same reply (Breaker of them, or the last ones of a run while the
// relay refused a probe too), so the relay or our setup, not the
// recipients, is at fault. The issue pauses with the rest pending; nobody
// is bounced; a later send (after the fix) delivers the rest.
type PausedError struct {
	Issue int64
	Count int
	Reply string
}

func (e *PausedError) Error() string {
	return fmt.Sprintf("delivery: issue %d paused after %d recipient(s) in a row failed with %q: the relay, not the recipients, is at fault, so nobody was marked bounced; fix the relay or the sender settings and run digest send again to send the rest",
		e.Issue, e.Count, e.Reply)
}

// outcome turns a mailer result into the marks to commit now (a failure
// may be held back, and a success may release held ones) and updates the
// summary.
func (p *pass) outcome(ctx context.Context, r mailer.Result) []store.Mark {
	p.mu.Lock()
	rc := p.inflight[r.ID]
	delete(p.inflight, r.ID)
	p.mu.Unlock()
	m := store.Mark{DeliveryID: r.ID, Attempts: rc.attempts + r.Attempts, At: p.s.o.Now()}
	var se *mailer.SendError
	isSE := errors.As(r.Err, &se)
	switch {
	case r.Err == nil:
		m.Status = store.DeliverySent
		p.count(m.Status)
		return append(p.settleHeld(ctx, p.breaker.success(rc.seq)), m)
	case r.Attempts == 0 && (errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)):
		// Never handed to the server: the row stays as it was, and the
		// claim goes back when the pass ends.
		return nil
	}
	key, reply := failureKey(se, r.Err)
	f := failure{mark: m, rc: rc, err: r.Err, permanent: isSE && !se.Temporary}
	wasTripped := p.breaker.tripped
	release, hold, left := p.breaker.failure(key, reply, rc.seq, f)
	marks := p.settleHeld(ctx, release)
	switch {
	case p.breaker.tripped && !wasTripped:
		for _, h := range left {
			marks = append(marks, p.pausedMark(h))
		}
		if !hold {
			marks = append(marks, p.pausedMark(f))
		}
		p.s.log.Error("breaker: recipients in a row failed the same way: pausing the issue", "issue", p.issue.ID, "count", p.breaker.count, "reply", reply)
		p.stop(&PausedError{Issue: p.issue.ID, Count: p.breaker.count, Reply: reply})
	case p.breaker.tripped && key == p.breaker.key:
		marks = append(marks, p.pausedMark(f))
	case !hold:
		marks = append(marks, p.settle(ctx, f))
	}
	return marks
}

// failure is one recipient's failed delivery, before it is marked.
type failure struct {
	mark      store.Mark
	rc        recipient
	err       error
	permanent bool
}

// settle decides a failure's mark, recording a bounce when the reply
// blames the recipient.
func (p *pass) settle(ctx context.Context, f failure) store.Mark {
	m := f.mark
	var se *mailer.SendError
	switch {
	case errors.As(f.err, &se) && se.Ambiguous:
		// The connection died after the end of DATA, before the reply: the
		// server may or may not have the message. Marking it sent would
		// lose the recipient if it does not; send again, same Message-ID.
		m.Status, m.Error = store.DeliveryFailedTemp, "outcome unknown, will be sent again: "+f.err.Error()
		p.s.log.Warn("delivery outcome unknown: will be sent again (a copy is better than a loss)", "email", f.rc.email, "error", f.err)
	case !f.permanent:
		m.Status, m.Error = store.DeliveryFailedTemp, f.err.Error()
		p.s.log.Warn("temporary failure: left for the next run", "email", f.rc.email, "error", f.err)
	default:
		m.Status, m.Error = store.DeliveryFailedPerm, f.err.Error()
		counts, hard := mailer.AgainstRecipient(f.err)
		bounced := false
		if counts {
			var err error
			bounced, err = p.s.o.Store.RecordBounce(context.WithoutCancel(ctx), f.rc.subscriberID, hard, f.err.Error(),
				p.s.o.BounceAfter, p.s.o.SoftBounceAfter, m.At)
			if err != nil {
				p.s.log.Error("recording bounce", "email", f.rc.email, "error", err)
			}
		}
		p.s.log.Warn("permanent failure", "email", f.rc.email, "error", f.err, "blames_recipient", counts, "bounced", bounced)
	}
	p.count(m.Status)
	return m
}

func (p *pass) settleHeld(ctx context.Context, fs []failure) []store.Mark {
	marks := make([]store.Mark, 0, len(fs))
	for _, f := range fs {
		marks = append(marks, p.settle(ctx, f))
	}
	return marks
}

// pausedPrefix starts the ledger error of a row the breaker left open.
const pausedPrefix = "paused by the breaker: "

// pausedMark leaves a failure of the breaker's streak open, blaming no one.
func (p *pass) pausedMark(f failure) store.Mark {
	m := f.mark
	m.Status, m.Error = store.DeliveryFailedTemp, pausedPrefix+f.err.Error()
	p.count(m.Status)
	return m
}

// finishStreak settles the failures still held when the pass ends without
// the breaker tripping. Fewer than Breaker were left, so the breaker could
// not decide, and nothing handed out later broke the run: the last
// recipients of the pass were refused the same way, for a reason that
// blames none of them. Either their servers refuse us, or the relay just
// started refusing everyone; failing them for good in the second case
// would lose them (the whole issue, for a small list). So the relay is
// asked, with an address the issue already reached, whether it would take
// that one now: if it would, the refusals are the recipients' servers' and
// final; if not, or with no address to ask about, the issue pauses.
func (p *pass) finishStreak(ctx context.Context) {
	b := &p.breaker
	if b.tripped {
		return
	}
	count, reply := b.count, b.reply
	held := b.reset()
	if len(held) == 0 || p.blamesRecipients(held) || p.relayTakes(ctx, held[0].rc) {
		p.commit(ctx, p.settleHeld(ctx, held))
		return
	}
	b.tripped = true
	marks := make([]store.Mark, 0, len(held))
	for _, f := range held {
		marks = append(marks, p.pausedMark(f))
	}
	p.commit(ctx, marks)
	p.s.log.Error("the relay refuses the last recipients and cannot be shown to take others: pausing the issue", "issue", p.issue.ID, "count", count, "reply", reply)
	p.stop(&PausedError{Issue: p.issue.ID, Count: count, Reply: reply})
}

// relayTakes probes the relay with an address this issue already reached,
// from the envelope sender rc's message had.
func (p *pass) relayTakes(ctx context.Context, rc recipient) bool {
	if ctx.Err() != nil {
		return false // stopping: leave the question to the next run
	}
	to, ok, err := p.s.o.Store.SentTo(ctx, p.issue.ID)
	if err != nil || !ok {
		if err != nil {
			p.s.log.Warn("finding an address to probe the relay with", "error", err)
		}
		return false
	}
	from := fromAddress(p.s.o.Newsletter.From)
	if p.s.o.BounceAddress != nil {
		from = p.s.o.BounceAddress(rc.subject(), p.issue.ID)
	}
	if err := p.s.o.Mailer.Probe(ctx, from, to); err != nil {
		p.s.log.Warn("the relay refuses a recipient it took before", "probe", to, "error", err)
		return false
	}
	return true
}

func (p *pass) blamesRecipients(fs []failure) bool {
	for _, f := range fs {
		if counts, _ := mailer.AgainstRecipient(f.err); counts {
			return true
		}
	}
	return false
}

func (p *pass) count(status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch status {
	case store.DeliverySent:
		p.sum.Sent++
	case store.DeliveryFailedPerm:
		p.sum.FailedPermanent++
	case store.DeliveryFailedTemp:
		p.sum.FailedTemporary++
	}
}

// failureKey is what "failing the same way" compares: the SMTP step, the
// reply code and the enhanced code (the text names the recipient), or for
// no reply the step alone (connection refused, timeouts). reply is what the
// operator is told.
func failureKey(se *mailer.SendError, err error) (key, reply string) {
	if se == nil {
		return err.Error(), err.Error()
	}
	if se.Code == 0 {
		return se.Op, se.Error()
	}
	reply = fmt.Sprintf("%d %s %s", se.Code, se.Enhanced, se.Reply)
	if se.Enhanced == "" {
		reply = fmt.Sprintf("%d %s", se.Code, se.Reply)
	}
	return fmt.Sprintf("%s %d %s", se.Op, se.Code, se.Enhanced), reply
}

// breaker counts recipients failing the same way in a row. Permanent
// failures of the current run are held back (neither marked failed nor
// bounced) until the run is broken: if it reaches the limit first, the
// relay is at fault and they stay open, bouncing nobody. Temporary failures
// are marked at once (they bounce nobody anyway) but count toward a run of
// their own kind.
//
// Results come back in the order they finish, not the order the messages
// were handed out, so only evidence from after a run began breaks it: a
// success, or a different permanent failure, of a message handed out after
// the run's first failure. A different temporary failure (a dropped
// connection among relay refusals) says nothing about the relay and leaves
// the run alone. When in doubt the breaker trips, which pauses; breaking a
// run wrongly would fail its recipients for good. Only the collecting
// goroutine uses it.
type breaker struct {
	limit   int
	key     string
	reply   string // the run's server reply, for the operator
	first   uint64 // hand-out number of the run's earliest failure
	count   int
	held    []failure
	tripped bool
}

// success records a delivered message handed out as number seq, and
// returns the held failures to settle when it breaks the run.
func (b *breaker) success(seq uint64) []failure {
	if b.tripped || b.count > 0 && seq < b.first {
		return nil // it began before the run: proves nothing about now
	}
	return b.reset()
}

// reset ends the run and returns its held failures to settle.
func (b *breaker) reset() []failure {
	held := b.held
	b.key, b.reply, b.first, b.count, b.held = "", "", 0, 0, nil
	return held
}

// failure counts f, the failure of message number seq. It returns held
// failures to settle now (f broke their run), whether f itself is held,
// and, when f trips the breaker, the held failures to leave open (f among
// them when it is held).
func (b *breaker) failure(key, reply string, seq uint64, f failure) (release []failure, hold bool, left []failure) {
	if b.tripped {
		return nil, false, nil
	}
	if b.count > 0 && key != b.key {
		if !f.permanent || seq < b.first {
			return nil, false, nil // neither counts nor breaks the run
		}
		release = b.reset()
	}
	if b.count == 0 {
		b.key, b.reply, b.first = key, reply, seq
	}
	b.first = min(b.first, seq)
	b.count++
	if f.permanent {
		b.held = append(b.held, f)
		hold = true
	}
	if b.count >= b.limit {
		b.tripped = true
		left, b.held = b.held, nil
	}
	return release, hold, left
}
