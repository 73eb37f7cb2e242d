package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/internal/store"
)

// schedule starts cron and the catch-up runs, and on ctx done stops them
// and waits for the running jobs, up to the shutdown grace.
func (d *Daemon) schedule(ctx context.Context) error {
	now := d.now()
	for _, e := range d.eds {
		// Without a recorded slot there is nothing to catch up; record now
		// so that a slot passing during a later downtime is seen as missed.
		if _, ok, err := d.o.Store.LastSlot(ctx, e.name); err == nil && !ok {
			if err := d.o.Store.SetLastSlot(ctx, e.name, now); err != nil {
				d.log.Warn("recording the schedule baseline failed", "edition", e.name, "error", err)
			}
		}
		d.metrics.initLastIssue(ctx, d.o.Store, e.name)
	}

	cl := cronLogger{d.log}
	c := cron.New(
		cron.WithLogger(cl),
		// Recover goes inside SkipIfStillRunning: outside it, a panic skips
		// the skip wrapper's release and the edition never runs again.
		cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl)),
	)
	ids := make(map[string]cron.EntryID, len(d.eds))
	for _, e := range d.eds {
		e := e
		ids[e.name] = c.Schedule(e.sched, cron.FuncJob(func() { d.fire(ctx, e) }))
	}
	d.mu.Lock()
	d.cron, d.entries = c, ids
	d.mu.Unlock()

	// Catch-up runs go through the same wrapped job as cron's own runs, so
	// SkipIfStillRunning keeps them apart from a scheduled run.
	var catchUp sync.WaitGroup
	for _, e := range d.eds {
		job := c.Entry(ids[e.name]).WrappedJob
		catchUp.Add(1)
		go func() {
			defer catchUp.Done()
			job.Run()
		}()
	}
	catchUp.Add(1)
	go func() {
		defer catchUp.Done()
		d.retryOpen(ctx, c, ids)
	}()
	c.Start()
	d.updateNextMetrics()

	<-ctx.Done()
	d.log.Info("stopping: no new runs; waiting for running sends", "shutdown_grace", d.shutdownGrace)
	cronDone := c.Stop()
	all := make(chan struct{})
	go func() {
		catchUp.Wait()
		<-cronDone.Done()
		close(all)
	}()
	t := time.NewTimer(d.shutdownGrace)
	defer t.Stop()
	d.mu.Lock()
	d.cron = nil
	d.mu.Unlock()
	select {
	case <-all:
		d.log.Info("all sends finished")
		return nil
	case <-t.C:
		d.log.Error("sends still running after the shutdown grace: leaving; messages in flight may be sent again by the next run", "shutdown_grace", d.shutdownGrace)
		return ErrStillRunning
	}
}

// retryOpen runs every edition's job each retry interval until ctx is
// done. Deliveries that failed temporarily (the relay was down, 4xx) or
// that the breaker paused leave the issue unfinished; the job resumes it
// rather than waiting for the next slot, which may be a week away. It is
// the same wrapped job as cron's, so a retry never overlaps a scheduled
// run of the edition.
func (d *Daemon) retryOpen(ctx context.Context, c *cron.Cron, ids map[string]cron.EntryID) {
	t := time.NewTicker(d.retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, e := range d.eds {
				if ctx.Err() != nil {
					return
				}
				c.Entry(ids[e.name]).WrappedJob.Run()
			}
		}
	}
}

func (d *Daemon) updateNextMetrics() {
	if d.metrics == nil {
		return
	}
	for name, t := range d.NextRuns() {
		d.metrics.setNext(name, t)
	}
}

// maxSlotSteps bounds the walk over missed slots (an `@every 1s` schedule
// after a month of downtime); past it the count is a lower bound.
const maxSlotSteps = 100000

// due finds the slot to run now for an edition last handled at last: the
// latest slot in (last, now] that is within the grace period. tooOld counts
// the slots before the grace period (newestOld is the latest of them) and
// coalesced the older slots within it that the due one stands for.
func (d *Daemon) due(s cron.Schedule, last, now time.Time) (slot time.Time, tooOld int, newestOld time.Time, coalesced int) {
	cut := now.Add(-d.grace)
	from := last
	if last.Before(cut) {
		for t := s.Next(last); !t.IsZero() && !t.After(cut) && tooOld < maxSlotSteps; t = s.Next(t) {
			tooOld++
			newestOld = t
		}
		from = cut
	}
	for t, n := s.Next(from), 0; !t.IsZero() && !t.After(now) && n < maxSlotSteps; t, n = s.Next(t), n+1 {
		if !slot.IsZero() {
			coalesced++
		}
		slot = t
	}
	return slot, tooOld, newestOld, coalesced
}

// fire is one run of an edition, scheduled or catching up after a start:
// send the due slot if there is one, else resume an unfinished issue.
func (d *Daemon) fire(ctx context.Context, e edition) {
	if ctx.Err() != nil {
		return
	}
	now := d.now()
	log := d.log.With("edition", e.name)
	defer func() {
		d.updateNextMetrics()
		log.Debug("run finished")
	}()
	last, ok, err := d.o.Store.LastSlot(ctx, e.name)
	if err != nil {
		log.Error("reading the last slot failed: run skipped", "error", err)
		return
	}
	if !ok {
		last = now
	}
	slot, tooOld, newestOld, coalesced := d.due(e.sched, last, now)
	if tooOld > 0 {
		log.Warn("missed slots older than the grace period were skipped; the next issue covers their articles",
			"skipped", tooOld, "newest_skipped", newestOld.Format(time.RFC3339), "grace", d.grace)
	}
	if coalesced > 0 {
		log.Info("missed slots folded into the latest one", "folded", coalesced, "slot", slot.Format(time.RFC3339))
	}
	if slot.IsZero() {
		if tooOld > 0 {
			d.setLastSlot(ctx, e.name, newestOld)
		}
		if !d.resumeOpen(ctx, e) {
			log.Debug("no slot due")
		}
		return
	}
	if !slot.After(now.Add(-time.Minute)) {
		log.Info("sending a missed slot", "slot", slot.Format(time.RFC3339), "late_by", now.Sub(slot).Round(time.Second))
	}
	d.runSlot(ctx, e, slot)
}

// resumeOpen finishes an edition's unfinished issue, left by a crash or a
// stop, without waiting for the next slot. It reports whether there was one.
func (d *Daemon) resumeOpen(ctx context.Context, e edition) bool {
	open, ok, err := d.o.Store.OpenIssue(ctx, e.name)
	if err != nil {
		d.log.Error("looking for an unfinished issue failed", "edition", e.name, "error", err)
		return false
	}
	if !ok {
		return false
	}
	d.log.Info("resuming an unfinished issue", "edition", e.name, "issue", open.ID)
	_, _ = d.send(ctx, e, open.Slot)
	return true
}

// runSlot sends the issue of one slot and records the slot as handled.
func (d *Daemon) runSlot(ctx context.Context, e edition, slot time.Time) {
	log := d.log.With("edition", e.name, "slot", slot.Format(time.RFC3339))
	if is, ok, err := d.o.Store.IssueBySlot(ctx, e.name, slot); err == nil && ok && is.Status == store.IssueDone {
		log.Info("slot already sent", "issue", is.ID)
		d.record(e.name, RunInfo{Slot: slot, Finished: d.now(), Issue: is.ID, Outcome: "already_sent"})
		d.setLastSlot(ctx, e.name, slot)
		return
	}
	sum, err := d.send(ctx, e, slot)
	if err == nil && sum.Resumed && ctx.Err() == nil {
		// That finished an older issue; this slot still needs its own,
		// unless the older one is still unfinished (it goes first).
		_, has, err1 := d.o.Store.IssueBySlot(ctx, e.name, slot)
		_, open, err2 := d.o.Store.OpenIssue(ctx, e.name)
		switch {
		case err1 != nil || err2 != nil:
			log.Error("checking the slot after a resume failed", "error", errors.Join(err1, err2))
		case open:
			log.Warn("an unfinished issue is still open: this slot waits for it")
		case !has:
			_, err = d.send(ctx, e, slot)
		}
	}
	if err != nil && ctx.Err() != nil {
		// Stopped or lease lost mid-send: the slot is not handled; the
		// next start (or the daemon taking over) catches it up within the
		// grace period.
		return
	}
	d.setLastSlot(ctx, e.name, slot)
}

func (d *Daemon) setLastSlot(ctx context.Context, edition string, slot time.Time) {
	if err := d.o.Store.SetLastSlot(context.WithoutCancel(ctx), edition, slot); err != nil {
		d.log.Error("recording the handled slot failed: it may be sent again after a restart (the store refuses a second issue for it)",
			"edition", edition, "slot", slot.Format(time.RFC3339), "error", err)
	}
}

// send calls the SendFunc and logs, records and measures the outcome.
func (d *Daemon) send(ctx context.Context, e edition, slot time.Time) (delivery.Summary, error) {
	log := d.log.With("edition", e.name)
	if !slot.IsZero() {
		log = log.With("slot", slot.Format(time.RFC3339))
	}
	log.Info("run started")
	sum, err := d.o.Send(ctx, e.name, slot)
	info := RunInfo{Slot: slot, Finished: d.now(), Issue: sum.Issue, Sent: sum.Sent}
	switch {
	case errors.Is(err, store.ErrSlotTaken):
		// Another run made this slot's issue between our check and ours.
		log.Info("slot already has an issue: nothing to do")
		err = nil
		info.Outcome = "already_sent"
	case err != nil && ctx.Err() != nil:
		log.Warn("run interrupted: the issue is resumed by the next run", "issue", sum.Issue, "sent", sum.Sent, "error", err)
		info.Outcome, info.Error = "interrupted", err.Error()
	case err != nil:
		log.Error("run failed", "issue", sum.Issue, "sent", sum.Sent, "error", err)
		info.Outcome, info.Error = "error", err.Error()
	case sum.Empty:
		log.Info("nothing new: no issue sent")
		info.Outcome = "empty"
	case sum.SentByOther:
		log.Info("another sender sent this window's issue", "issue", sum.Issue)
		info.Outcome = "already_sent"
	default:
		info.Outcome = "sent"
		if sum.Resumed {
			info.Outcome = "resumed"
		}
		lvl := slog.LevelInfo
		if sum.FailedTemporary > 0 || sum.FailedPermanent > 0 {
			lvl = slog.LevelWarn
		}
		log.Log(ctx, lvl, "issue sent", "issue", sum.Issue, "resumed", sum.Resumed, "articles", sum.Articles,
			"recipients", sum.Recipients, "sent", sum.Sent, "failed_temporary", sum.FailedTemporary,
			"failed_permanent", sum.FailedPermanent, "skipped", sum.Skipped, "seconds", sum.Seconds)
	}
	if sum.Digest != nil && !sum.Resumed {
		for _, se := range sum.Digest.Errors {
			log.Warn("source failed", "source", se.Source, "error", se.Error)
		}
	}
	d.record(e.name, info)
	d.metrics.observe(e.name, sum, err, d.now())
	return sum, err
}

func (d *Daemon) record(edition string, ri RunInfo) {
	d.mu.Lock()
	d.lastRun[edition] = ri
	d.mu.Unlock()
}

// cronLogger adapts slog to cron.Logger. cron's Info lines (wake, run,
// schedule) are routine and go to debug.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append([]any{"error", err}, kv...)...)
}
