package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/inbound"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/outbox"
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
			p, w, err := newPoller(cfg, st, g.log)
			if err != nil {
				return err
			}
			stats, err := p.PollOnce(ctx)
			fmt.Fprintln(g.stdout, stats)
			// The confirmations and replies this pass recorded go out
			// before the command ends.
			if _, ferr := w.Flush(ctx); ferr != nil {
				g.log.Error("outbox: not flushed", "error", ferr)
			}
			return err
		},
	}
}

// newPoller wires the IMAP poller to the subscription service and the
// outbox.
func newPoller(cfg *config.Config, st *store.DB, log *slog.Logger) (*inbound.Poller, *outbox.Worker, error) {
	svc, w, err := newWebService(cfg, st, log)
	if err != nil {
		return nil, nil, err
	}
	signer, err := newSigner(cfg, true)
	if err != nil {
		return nil, nil, err
	}
	p, err := inbound.New(inbound.Options{
		Config: cfg.Inbound, Delivery: cfg.Delivery, Newsletter: cfg.Newsletter,
		Password: cfg.Inbound.Password(), Store: st, Service: svc, Outbox: w, Signer: signer, Logger: log,
	})
	return p, w, err
}

// inboundAddresses sets the VERP return path and the tokenised unsubscribe
// mailto on every message when an inbound mailbox reads them.
func inboundAddresses(cfg *config.Config, signer *links.Signer) (bounce func(who links.Subject, issue int64) string, mailto func(who links.Subject) string) {
	if !cfg.Inbound.Enabled() || signer == nil {
		return nil, nil
	}
	base := cfg.Inbound.BounceAddress
	if base == "" {
		base = cfg.Inbound.Address
	}
	bounce = func(who links.Subject, issue int64) string { return inbound.BounceAddress(base, signer, who, issue) }
	mailto = func(who links.Subject) string { return inbound.UnsubscribeMailto(cfg.Inbound.Address, signer, who) }
	return bounce, mailto
}
