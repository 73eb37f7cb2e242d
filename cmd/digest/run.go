package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/daemon"
	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/inbound"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/outbox"
	"github.com/digest-newsletter/digest/subscribers"
)

func newRunCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: editions on their schedules, plus the web endpoints",
		Long: `run is the long-running daemon: it sends each edition on its cron schedule
(the same path as "digest send --edition NAME", honouring skip_if_empty) and
serves the web endpoints of "digest serve" plus GET /healthz (JSON) and
GET /metrics (Prometheus) on server.listen (or --listen).

A slot missed while no daemon ran is sent once on start if it is within
daemon.grace (default 6h); older ones are logged and skipped. Several
"digest run" on one store agree through a lease (daemon.lease_ttl): one sends,
the others wait and take over when it goes away. SIGINT or SIGTERM stops
scheduling, lets the messages in flight finish (up to daemon.shutdown_grace)
and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Server.Listen = listen
			}
			return runDaemon(cmd.Context(), g, cfg)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default: server.listen)")
	return cmd
}

// editionSenders builds one sender per edition, once: each scheduled run is
// `digest send --edition NAME` with the slot it was scheduled for.
func editionSenders(cfg *config.Config, st *store.DB, signer *links.Signer, log *slog.Logger) (daemon.SendFunc, error) {
	senders := map[string]*delivery.Sender{}
	for _, e := range cfg.Editions {
		s, err := newSender(cfg, st, false, signer, e.Name, nil, log)
		if err != nil {
			return nil, err
		}
		senders[e.Name] = s
	}
	return func(ctx context.Context, edition string, slot time.Time) (delivery.Summary, error) {
		return senders[edition].Send(ctx, delivery.SendOptions{Edition: edition, Slot: slot})
	}, nil
}

func runDaemon(ctx context.Context, g *globals, cfg *config.Config) error {
	log := g.log
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	signer, err := newSigner(cfg, true)
	if err != nil {
		return err
	}

	send, err := editionSenders(cfg, st, signer, log)
	if err != nil {
		return err
	}

	svc, mailWorker, err := newWebService(cfg, st, log)
	if err != nil {
		return err
	}
	var tasks []func(context.Context)
	if cfg.Inbound.Enabled() {
		task, err := inboundTask(cfg, st, svc, mailWorker, signer, log)
		if err != nil {
			return err
		}
		tasks = append(tasks, task)
	}

	var metrics *daemon.Metrics
	if cfg.Daemon.Metrics == nil || *cfg.Daemon.Metrics {
		metrics = daemon.NewMetrics()
	}
	d, err := daemon.New(daemon.Options{
		Config: cfg, Store: st, Send: send, Holder: leaseHolder(),
		Logger: log, Metrics: metrics, LeaderTasks: tasks,
	})
	if err != nil {
		return err
	}
	mux, err := webHandler(cfg, st, subscribers.NewHandler(svc), log)
	if err != nil {
		return err
	}
	mux.Handle("GET /healthz", d.HealthHandler())
	if metrics != nil {
		mux.Handle("GET /metrics", metrics.Handler())
	}

	// The web server outlives the scheduler: it is stopped only once the
	// sends have finished, so /healthz answers during the shutdown.
	webCtx, stopWeb := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWeb()
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	webErr := make(chan error, 1)
	go func() {
		err := serveWeb(webCtx, log, cfg.Server.Listen, mux)
		if err != nil {
			log.Error("web server failed: stopping", "error", err)
			stopSched()
		}
		webErr <- err
	}()
	go svc.RunExpiry(webCtx, cfg.Server.PendingTTL/24)
	// Transactional mail goes out while the web answers, on every daemon
	// (claims keep two from sending one row).
	go mailWorker.Run(webCtx)

	runErr := d.Run(schedCtx)
	stopWeb()
	wErr := <-webErr
	if runErr != nil {
		return fmt.Errorf("run: %w", runErr)
	}
	if wErr != nil {
		return fmt.Errorf("run: %w", wErr)
	}
	log.Info("stopped")
	return nil
}

// inboundTask polls the inbound mailbox (commands by email, bounces) while
// this daemon holds the lease: one reader per store, like one sender.
func inboundTask(cfg *config.Config, st *store.DB, svc *subscribers.Service, w *outbox.Worker, signer *links.Signer, log *slog.Logger) (func(context.Context), error) {
	p, err := inbound.New(inbound.Options{
		Config: cfg.Inbound, Delivery: cfg.Delivery, Newsletter: cfg.Newsletter,
		Password: cfg.Inbound.Password(), Store: st, Service: svc, Outbox: w,
		Signer: signer, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) {
		log.Info("inbound: polling the mailbox", "host", cfg.Inbound.IMAPHost, "every", cfg.Inbound.PollInterval)
		if err := p.Run(ctx); err != nil {
			log.Error("inbound: poller stopped", "error", err)
		}
	}, nil
}

// serveWeb listens on addr and serves h until ctx is done. While another
// daemon on this host still has the port (a restart overlapping its
// predecessor), it keeps trying rather than giving up.
func serveWeb(ctx context.Context, log *slog.Logger, addr string, h http.Handler) error {
	var lc net.ListenConfig
	logged := false
	for {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err == nil {
			log.Info("web server listening", "addr", ln.Addr().String())
			return subscribers.Serve(ctx, subscribers.NewServer(addr, h), ln, 5*time.Second)
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		if !logged {
			log.Warn("web address in use: retrying until it is free", "addr", addr)
			logged = true
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// leaseHolder names this process in the store's lease: host and pid for
// the operator, and a random part so two daemons in one process differ.
func leaseHolder() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}
