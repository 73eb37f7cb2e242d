package daemon

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/digest-newsletter/digest/delivery"
)

// Metrics are the daemon's Prometheus metrics, in a registry of their own
// (never the global one: two daemons in one test process must not clash).
// A nil *Metrics records nothing.
type Metrics struct {
	reg        *prometheus.Registry
	sent       *prometheus.CounterVec
	failed     *prometheus.CounterVec
	skipped    *prometheus.CounterVec
	runs       *prometheus.CounterVec
	feedErrors *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	lastIssue  *prometheus.GaugeVec
	nextRun    *prometheus.GaugeVec
	leader     prometheus.Gauge
}

// NewMetrics creates the metrics and their registry, with the Go runtime
// and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_messages_sent_total",
			Help: "Messages accepted by the SMTP server.",
		}, []string{"edition"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_messages_failed_total",
			Help: "Messages not delivered, by kind: temporary (retried by the next run) or permanent.",
		}, []string{"edition", "kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_messages_skipped_total",
			Help: "Ledger rows skipped because the subscriber left after the issue was frozen.",
		}, []string{"edition"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_runs_total",
			Help: "Edition runs by outcome: sent, empty (nothing new), error.",
		}, []string{"edition", "outcome"}),
		feedErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_feed_errors_total",
			Help: "Sources that could not be collected, by source name.",
		}, []string{"source"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "digest_issue_duration_seconds",
			Help:    "Time to build and send (or resume) one issue.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14), // 0.5 s .. ~68 min
		}, []string{"edition"}),
		lastIssue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "digest_last_issue_timestamp_seconds",
			Help: "Unix time of the edition's latest issue.",
		}, []string{"edition"}),
		nextRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "digest_next_run_timestamp_seconds",
			Help: "Unix time of the edition's next scheduled run.",
		}, []string{"edition"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "digest_daemon_leader",
			Help: "1 when this daemon holds the store's lease and sends, else 0.",
		}),
	}
	m.reg.MustRegister(m.sent, m.failed, m.skipped, m.runs, m.feedErrors, m.duration, m.lastIssue, m.nextRun, m.leader,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// init creates every edition's series at zero, so rates and alerts work
// before the first run.
func (m *Metrics) init(eds []edition) {
	if m == nil {
		return
	}
	for _, e := range eds {
		m.sent.WithLabelValues(e.name)
		m.failed.WithLabelValues(e.name, "temporary")
		m.failed.WithLabelValues(e.name, "permanent")
		m.skipped.WithLabelValues(e.name)
		for _, o := range []string{"sent", "empty", "error"} {
			m.runs.WithLabelValues(e.name, o)
		}
	}
}

// initLastIssue sets the last-issue gauge from the store, so a restart
// does not make an alert on its age fire or go blind.
func (m *Metrics) initLastIssue(ctx context.Context, st Store, edition string) {
	if m == nil {
		return
	}
	is, ok, err := st.LastIssue(ctx, edition)
	if err != nil || !ok {
		return
	}
	t := is.Finished
	if t.IsZero() {
		t = is.Created
	}
	m.lastIssue.WithLabelValues(edition).Set(float64(t.UnixNano()) / 1e9)
}

func (m *Metrics) setLeader(v bool) {
	if m == nil {
		return
	}
	if v {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

func (m *Metrics) setNext(edition string, t time.Time) {
	if m == nil || t.IsZero() {
		return
	}
	m.nextRun.WithLabelValues(edition).Set(float64(t.Unix()))
}

// observe records one run.
func (m *Metrics) observe(edition string, sum delivery.Summary, err error, now time.Time) {
	if m == nil {
		return
	}
	m.sent.WithLabelValues(edition).Add(float64(sum.Sent))
	m.failed.WithLabelValues(edition, "temporary").Add(float64(sum.FailedTemporary))
	m.failed.WithLabelValues(edition, "permanent").Add(float64(sum.FailedPermanent))
	m.skipped.WithLabelValues(edition).Add(float64(sum.Skipped))
	if sum.Digest != nil && !sum.Resumed {
		for _, se := range sum.Digest.Errors {
			m.feedErrors.WithLabelValues(se.Source).Inc()
		}
	}
	switch {
	case err != nil:
		m.runs.WithLabelValues(edition, "error").Inc()
	case sum.Empty:
		m.runs.WithLabelValues(edition, "empty").Inc()
	case sum.Issue != 0:
		m.runs.WithLabelValues(edition, "sent").Inc()
	}
	if sum.Issue != 0 && !sum.DryRun {
		m.duration.WithLabelValues(edition).Observe(sum.Seconds)
		if err == nil {
			m.lastIssue.WithLabelValues(edition).Set(float64(now.UnixNano()) / 1e9)
		}
	}
}
