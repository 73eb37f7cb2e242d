package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/subscribers"
)

func newServeCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web endpoints alone (subscribe, confirm, unsubscribe, preferences)",
		Long: `serve runs the subscription web endpoints on server.listen (or --listen):
GET / (subscribe form), POST /subscribe, GET /confirm, GET and POST
/unsubscribe (RFC 8058 one-click), GET and POST /preferences and GET /healthz.
Confirmation emails go out through [smtp]. The token key comes from the
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
			svc, err := newWebService(cfg, st, g.log)
			if err != nil {
				return err
			}
			go svc.RunExpiry(ctx, time.Hour)
			return serveHTTP(ctx, g, cfg.Server.Listen, subscribers.NewHandler(svc), cfg.Daemon.ShutdownGrace)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default: server.listen)")
	return cmd
}

// newWebService wires the subscription service: store, mailer for the
// confirmation email, renderer, tokens.
func newWebService(cfg *config.Config, st *store.DB, log *slog.Logger) (*subscribers.Service, error) {
	tokens, err := newTokens(cfg, true)
	if err != nil {
		return nil, err
	}
	m, err := newMailer(cfg, log)
	if err != nil {
		return nil, err
	}
	r, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	return subscribers.NewService(subscribers.ServiceOptions{
		Store: st, Sender: m, Renderer: r, Tokens: tokens,
		Newsletter: cfg.Newsletter, Server: cfg.Server, Editions: cfg.Editions,
		Topics: topicNames(cfg), Logger: log,
	})
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
