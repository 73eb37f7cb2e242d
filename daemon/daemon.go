// Package daemon runs digest's editions on their cron schedules: the core
// of `digest run`.
//
// Scheduling is robfig/cron/v3 with Recover and SkipIfStillRunning in the
// chain. cron alone does not survive restarts or a second process, so the
// daemon adds three things on top of it:
//
//   - a lease row in the store: of all daemons on one store only the holder
//     schedules; the others wait and take over when it goes away (released
//     on a clean stop, or expired after lease_ttl). Sending does not rely on
//     it: the delivery engine claims ledger rows, so a manual digest send
//     beside the daemon, or a daemon that lost its lease mid-send, joins
//     the same issue and nobody gets it twice;
//   - each edition's last handled slot, persisted: a slot missed while no
//     daemon ran is sent once on start if it is within the grace period,
//     older ones are logged and skipped (the next issue's window covers
//     their articles anyway);
//   - the slot is passed to the send, and the store refuses a second issue
//     for one (edition, slot), so no slot is ever sent twice.
//
// On shutdown the daemon stops scheduling, cancels the running sends (the
// delivery engine then hands out no new message while the ones in flight
// finish and are marked) and waits up to shutdown_grace for them.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
)

// LeaseName is the lease row the senders on one store compete for.
const LeaseName = "digest-run"

// SendFunc sends (or resumes) one issue of an edition for a scheduled slot:
// the same path as `digest send --edition NAME`.
type SendFunc func(ctx context.Context, edition string, slot time.Time) (delivery.Summary, error)

// Store is what the daemon needs from persistence; *store.DB satisfies it.
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	LastSlot(ctx context.Context, edition string) (time.Time, bool, error)
	SetLastSlot(ctx context.Context, edition string, slot time.Time) error
	OpenIssue(ctx context.Context, edition string) (store.Issue, bool, error)
	IssueBySlot(ctx context.Context, edition string, slot time.Time) (store.Issue, bool, error)
	LastIssue(ctx context.Context, edition string) (store.Issue, bool, error)
	Ping(ctx context.Context) error
}

// Options wires a Daemon. Config, Store, Send and Holder are required.
type Options struct {
	Config *config.Config
	Store  Store
	Send   SendFunc
	// Holder names this process in the lease (host, pid and a random part:
	// two daemons in one process must differ too).
	Holder  string
	Logger  *slog.Logger
	Now     func() time.Time // slot arithmetic and lease times; default time.Now
	Metrics *Metrics         // nil: no metrics
	// LeaderTasks run while this daemon holds the lease (the inbound
	// mailbox poller: one reader per store, like one sender). Each must
	// return soon after its ctx is done.
	LeaderTasks []func(ctx context.Context)
}

// ErrStillRunning is returned by Run when sends did not finish within
// daemon.shutdown_grace after the stop. The lease is then left to expire,
// so no other daemon resumes the issue while this process still sends.
var ErrStillRunning = errors.New("daemon: sends still running after the shutdown grace period")

// edition is one schedule to run.
type edition struct {
	name  string
	spec  string
	sched cron.Schedule
}

// RunInfo is the outcome of an edition's latest run, for /healthz.
type RunInfo struct {
	Slot     time.Time `json:"slot"`
	Finished time.Time `json:"finished"`
	Issue    int64     `json:"issue,omitempty"`
	Outcome  string    `json:"outcome"` // sent, resumed, empty, already_sent, error
	Sent     int       `json:"sent"`
	Error    string    `json:"error,omitempty"`
}

// Daemon schedules the editions of one config.
type Daemon struct {
	o                         Options
	log                       *slog.Logger
	now                       func() time.Time
	eds                       []edition
	ttl, grace, shutdownGrace time.Duration
	retry                     time.Duration
	metrics                   *Metrics

	mu      sync.Mutex
	leader  bool
	cron    *cron.Cron
	entries map[string]cron.EntryID
	lastRun map[string]RunInfo
}

// New checks the options and parses every edition's schedule.
func New(o Options) (*Daemon, error) {
	switch {
	case o.Config == nil:
		return nil, errors.New("daemon: no config")
	case o.Store == nil:
		return nil, errors.New("daemon: no store")
	case o.Send == nil:
		return nil, errors.New("daemon: no send func")
	case o.Holder == "":
		return nil, errors.New("daemon: no lease holder name")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := o.Config
	d := &Daemon{
		o: o, log: o.Logger, now: o.Now, metrics: o.Metrics,
		ttl:           orDefault(cfg.Daemon.LeaseTTL, config.DefaultLeaseTTL),
		grace:         orDefault(cfg.Daemon.Grace, config.DefaultGrace),
		shutdownGrace: orDefault(cfg.Daemon.ShutdownGrace, config.DefaultShutdownGrace),
		retry:         orDefault(cfg.Daemon.RetryInterval, config.DefaultRetryInterval),
		entries:       map[string]cron.EntryID{},
		lastRun:       map[string]RunInfo{},
	}
	for i, e := range cfg.Editions {
		spec := cfg.Spec(e)
		s, err := config.ParseSchedule(spec, "")
		if err != nil {
			return nil, fmt.Errorf("daemon: editions.%d.schedule %q: %w", i, e.Schedule, err)
		}
		d.eds = append(d.eds, edition{name: e.Name, spec: spec, sched: s})
	}
	if len(d.eds) == 0 {
		return nil, errors.New("daemon: no editions")
	}
	d.metrics.init(d.eds)
	return d, nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// NextRuns returns each edition's next scheduled run, in the schedule's
// time zone: the cron entry's while this daemon schedules, else what the
// schedule says from now.
func (d *Daemon) NextRuns() map[string]time.Time {
	d.mu.Lock()
	c, ids := d.cron, d.entries
	d.mu.Unlock()
	out := make(map[string]time.Time, len(d.eds))
	now := d.now()
	for _, e := range d.eds {
		if c != nil {
			if en := c.Entry(ids[e.name]); en.Valid() && !en.Next.IsZero() {
				out[e.name] = e.local(en.Next)
				continue
			}
		}
		out[e.name] = e.local(e.sched.Next(now))
	}
	return out
}

// local shows t in the schedule's zone, as the operator wrote it.
func (e edition) local(t time.Time) time.Time {
	if ss, ok := e.sched.(*cron.SpecSchedule); ok && ss.Location != nil {
		return t.In(ss.Location)
	}
	return t
}

// Leader reports whether this daemon holds the lease (and so sends).
func (d *Daemon) Leader() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leader
}

// LastRuns returns each edition's latest run by this process.
func (d *Daemon) LastRuns() map[string]RunInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]RunInfo, len(d.lastRun))
	for k, v := range d.lastRun {
		out[k] = v
	}
	return out
}

// Run schedules the editions until ctx is done. It waits for the lease
// first, and goes back to waiting if the lease is lost. A clean stop
// returns nil; ErrStillRunning means sends outlived the shutdown grace.
func (d *Daemon) Run(ctx context.Context) error {
	next := d.NextRuns()
	for _, e := range d.eds {
		d.log.Info("edition scheduled", "edition", e.name, "schedule", e.spec, "next_run", next[e.name].Format(time.RFC3339))
	}
	for {
		if err := d.waitLease(ctx); err != nil {
			d.log.Info("stopped while waiting for the lease")
			return nil
		}
		lost, err := d.lead(ctx)
		if err != nil || !lost {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// waitLease polls for the lease until this daemon holds it or ctx is done.
func (d *Daemon) waitLease(ctx context.Context) error {
	every := max(d.ttl/3, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	logged := false
	for {
		ok, err := d.o.Store.AcquireLease(ctx, LeaseName, d.o.Holder, d.ttl, d.now())
		switch {
		case err != nil:
			if ctx.Err() == nil {
				d.log.Warn("taking the lease failed: retrying", "error", err)
			}
		case ok:
			return nil
		case !logged:
			d.log.Info("another daemon holds the lease on this store: waiting to take over", "lease_ttl", d.ttl)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// lead runs the schedules while this daemon holds the lease. It reports
// lost when the lease went to another daemon (or could not be renewed in
// time); otherwise ctx is done and the lease has been released (or left
// to expire when sends are still running).
func (d *Daemon) lead(ctx context.Context) (lost bool, err error) {
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lostLease atomic.Bool
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		// Renewal goes on after ctx is done: sends still finishing must
		// stay covered, or another daemon could resume their issue.
		d.renew(context.WithoutCancel(ctx), stop, func() {
			lostLease.Store(true)
			cancel()
		})
	}()
	d.setLeader(true)
	d.log.Info("lease taken: this daemon sends the editions", "holder", d.o.Holder)

	var tasks sync.WaitGroup
	for _, task := range d.o.LeaderTasks {
		tasks.Add(1)
		go func() {
			defer tasks.Done()
			task(leadCtx)
		}()
	}
	err = d.schedule(leadCtx)
	if !waitTimeout(&tasks, d.shutdownGrace) {
		d.log.Error("background tasks still running after the shutdown grace", "shutdown_grace", d.shutdownGrace)
		err = errors.Join(err, ErrStillRunning)
	}

	close(stop)
	<-renewed
	d.setLeader(false)
	if errors.Is(err, ErrStillRunning) {
		return false, ErrStillRunning
	}
	if lostLease.Load() {
		d.log.Error("lease lost: another daemon took over; waiting to take it back")
		return true, nil
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	if err := d.o.Store.ReleaseLease(rctx, LeaseName, d.o.Holder); err != nil {
		d.log.Warn("releasing the lease failed: another daemon takes over when it expires", "error", err, "lease_ttl", d.ttl)
	} else {
		d.log.Info("lease released")
	}
	return false, nil
}

// waitTimeout waits for wg up to d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (d *Daemon) setLeader(v bool) {
	d.mu.Lock()
	d.leader = v
	d.mu.Unlock()
	d.metrics.setLeader(v)
}

// renew extends the lease every ttl/3 until stop is closed. It calls lost
// when another daemon has the lease, or when renewals kept failing until
// the lease may have expired.
func (d *Daemon) renew(ctx context.Context, stop <-chan struct{}, lost func()) {
	every := max(d.ttl/3, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := d.now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		now := d.now()
		ok, err := d.o.Store.AcquireLease(rctx, LeaseName, d.o.Holder, d.ttl, now)
		cancel()
		switch {
		case err == nil && ok:
			lastOK = now
		case err == nil:
			lost()
			return
		case now.Sub(lastOK) >= d.ttl-every:
			d.log.Error("renewing the lease failed until it could expire: stopping sends", "error", err)
			lost()
			return
		default:
			d.log.Warn("renewing the lease failed: retrying", "error", err)
		}
	}
}

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
	// Deliveries that failed temporarily (the relay was down, 4xx) leave
	// the issue unfinished; retry them every retry interval rather than at
	// the next slot, which may be a week away. Same wrapped job again, so a
	// retry never overlaps a scheduled run of the edition.
	catchUp.Add(1)
	go func() {
		defer catchUp.Done()
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
