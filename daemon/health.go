package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Health is the /healthz answer.
type Health struct {
	Status   string             `json:"status"` // ok or unavailable
	Store    string             `json:"store"`  // ok or the error
	Leader   bool               `json:"leader"` // this daemon holds the lease and sends
	Holder   string             `json:"holder"`
	NextRuns map[string]string  `json:"next_runs"` // RFC 3339
	LastRuns map[string]RunInfo `json:"last_runs"`
}

// Health pings the store and reports the schedule.
func (d *Daemon) Health(ctx context.Context) Health {
	h := Health{Status: "ok", Store: "ok", Leader: d.Leader(), Holder: d.o.Holder,
		NextRuns: map[string]string{}, LastRuns: d.LastRuns()}
	if err := d.o.Store.Ping(ctx); err != nil {
		h.Status, h.Store = "unavailable", err.Error()
	}
	for name, t := range d.NextRuns() {
		h.NextRuns[name] = t.Format(time.RFC3339)
	}
	return h
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
