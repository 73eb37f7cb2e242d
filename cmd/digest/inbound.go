package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/inbound"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/subscribers"
)

func newInboundCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inbound",
		Short: "Poll the inbound mailbox once: commands by email and bounces",
		Long: `inbound connects to the IMAP mailbox of [inbound], handles every unseen
message once and moves it to done_mailbox: "subscribe" (subject or first line)
sends a confirmation email (double opt-in), "unsubscribe" and mail to the
tokenised List-Unsubscribe mailto address unsubscribe, "help" gets a reply,
and bounces (DSNs and the common non-standard formats) count toward
suppressing the address. Auto-replies are ignored. For cron users; digest run
polls on its own every inbound.poll_interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if !cfg.Inbound.Enabled() {
				return errors.New("inbound: no mailbox configured (set inbound.imap_host)")
			}
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			p, err := newPoller(cfg, st, g.log)
			if err != nil {
				return err
			}
			stats, err := p.PollOnce(ctx)
			fmt.Fprintln(g.stdout, stats)
			return err
		},
	}
}

// newPoller wires the IMAP poller to the subscription service and mailer.
func newPoller(cfg *config.Config, st *store.DB, log *slog.Logger) (*inbound.Poller, error) {
	svc, err := newWebService(cfg, st, log)
	if err != nil {
		return nil, err
	}
	tokens, err := newTokens(cfg, true)
	if err != nil {
		return nil, err
	}
	m, err := newMailer(cfg, log)
	if err != nil {
		return nil, err
	}
	return inbound.New(inbound.Options{
		Config: cfg.Inbound, Delivery: cfg.Delivery, Newsletter: cfg.Newsletter,
		Password: cfg.Inbound.Password(), Store: st, Service: svc, Sender: m, Tokens: tokens, Logger: log,
	})
}

// inboundAddresses sets the VERP return path and the tokenised unsubscribe
// mailto on every message when an inbound mailbox reads them.
func inboundAddresses(cfg *config.Config, tokens *subscribers.Tokens) (bounce func(sub, issue int64) string, mailto func(sub int64) string) {
	if !cfg.Inbound.Enabled() || tokens == nil {
		return nil, nil
	}
	base := cfg.Inbound.BounceAddress
	if base == "" {
		base = cfg.Inbound.Address
	}
	bounce = func(sub, issue int64) string { return inbound.BounceAddress(base, tokens, sub, issue) }
	mailto = func(sub int64) string { return inbound.UnsubscribeMailto(cfg.Inbound.Address, tokens, sub) }
	return bounce, mailto
}
