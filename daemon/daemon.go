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
	"time"

	"github.com/robfig/cron/v3"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
)

// LeaseName is the lease row the schedulers on one store compete for.
const LeaseName = "digest-run"

// SendFunc sends (or resumes) one issue of an edition for a scheduled slot:
// the same path as `digest send --edition NAME`.
type SendFunc func(ctx context.Context, edition string, slot time.Time) (delivery.Summary, error)

// Store is what the daemon needs from persistence; *store.DB satisfies it.
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	// LeaseHolder reads the lease for /healthz (ErrNotFound: nobody holds it).
	LeaseHolder(ctx context.Context, name string) (holder string, expires time.Time, err error)
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
