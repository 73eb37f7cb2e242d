package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
)

// Health is the /healthz answer.
type Health struct {
	Status string `json:"status"` // ok or unavailable
	Store  string `json:"store"`  // ok or the error
	Leader bool   `json:"leader"` // this daemon holds the lease and sends
	Holder string `json:"holder"` // Instance, under its older name
	// Instance names this process in the lease; every instance on one
	// store has its own.
	Instance string `json:"instance"`
	// Scheduler is the lease as the store has it: which instance runs
	// the schedules. nil when none does (no lease, or the store did not
	// answer).
	Scheduler *Scheduler `json:"scheduler"`
	// IsScheduler says the store names this instance, with an unexpired
	// lease. Leader is this process's own view; the two differ only while
	// a lease changes hands.
	IsScheduler bool               `json:"is_scheduler"`
	NextRuns    map[string]string  `json:"next_runs"` // RFC 3339
	LastRuns    map[string]RunInfo `json:"last_runs"`
}

// Scheduler is the holder of the scheduling lease.
type Scheduler struct {
	Instance string    `json:"instance"`
	Expires  time.Time `json:"expires"`
	// Expired: the holder stopped renewing and nobody took over yet (no
	// other instance runs, or one is about to).
	Expired bool `json:"expired"`
}

// Health pings the store and reports the schedule and who runs it.
func (d *Daemon) Health(ctx context.Context) Health {
	h := Health{Status: "ok", Store: "ok", Leader: d.Leader(), Holder: d.o.Holder, Instance: d.o.Holder,
		NextRuns: map[string]string{}, LastRuns: d.LastRuns()}
	if err := d.o.Store.Ping(ctx); err != nil {
		h.Status, h.Store = "unavailable", err.Error()
	} else if s, err := d.scheduler(ctx); err != nil {
		h.Status, h.Store = "unavailable", err.Error()
	} else if s != nil {
		h.Scheduler = s
		h.IsScheduler = s.Instance == d.o.Holder && !s.Expired
	}
	for name, t := range d.NextRuns() {
		h.NextRuns[name] = t.Format(time.RFC3339)
	}
	return h
}

// scheduler reads the lease from the store: nil when nobody holds it.
func (d *Daemon) scheduler(ctx context.Context) (*Scheduler, error) {
	holder, expires, err := d.o.Store.LeaseHolder(ctx, LeaseName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Scheduler{Instance: holder, Expires: expires, Expired: !expires.After(d.now())}, nil
}

// HealthHandler serves Health as JSON: 200 when the store answers, else 503.
func (d *Daemon) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		h := d.Health(ctx)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(h)
	})
}
