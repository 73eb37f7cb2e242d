package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/subscribers"
)

func newServeCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web endpoints alone (subscribe, confirm, unsubscribe, preferences)",
		Long: `serve runs the subscription web endpoints on server.listen (or --listen):
GET / (subscribe form), POST /subscribe, GET and POST /confirm, GET and POST
/unsubscribe (RFC 8058 one-click), GET and POST /preferences and GET /healthz.
Confirmation and welcome emails go into the store's outbox and are sent by a
background worker through [smtp], with retries: a form never waits on SMTP. The token key comes from the
environment variable named by server.secret_env. Stops cleanly on SIGINT or
SIGTERM. digest run serves the same endpoints beside the schedules.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Server.Listen = listen
			}
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			svc, w, err := newWebService(cfg, st, g.log)
			if err != nil {
				return err
			}
			go svc.RunExpiry(ctx, time.Hour)
			go w.Run(ctx)
			return serveHTTP(ctx, g, cfg.Server.Listen, subscribers.NewHandler(svc), cfg.Daemon.ShutdownGrace)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default: server.listen)")
	return cmd
}

// serveHTTP listens on addr and serves h until ctx is done.
func serveHTTP(ctx context.Context, g *globals, addr string, h http.Handler, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	g.log.Info("serving", "addr", ln.Addr().String())
	return subscribers.Serve(ctx, subscribers.NewServer(addr, h), ln, grace)
}
