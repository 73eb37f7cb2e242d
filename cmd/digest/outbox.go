package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/outbox"
	"github.com/digest-newsletter/digest/subscribers"
)

// newOutbox wires the transactional mail worker to the store and the
// mailer the digests use.
func newOutbox(cfg *config.Config, st *store.DB, log *slog.Logger) (*outbox.Worker, error) {
	m, err := newMailer(cfg, log)
	if err != nil {
		return nil, err
	}
	return outbox.New(outbox.Options{
		Store: st, Sender: m, Holder: leaseHolder(), Logger: log,
		ConfirmationsPerHour: cfg.Server.ConfirmationsPerHour,
		// A claim outlives the mailer's tries for one message.
		ClaimFor: max(outbox.DefaultClaimFor, 4*cfg.SMTP.Timeout*time.Duration(1+max(0, cfg.Delivery.Retries))),
	})
}

// flushOutbox sends what is due in the outbox, for one-shot commands.
func flushOutbox(ctx context.Context, cfg *config.Config, st *store.DB, log *slog.Logger) error {
	w, err := newOutbox(cfg, st, log)
	if err != nil {
		return err
	}
	stats, err := w.Flush(ctx)
	if stats != (outbox.Stats{}) {
		log.Info("outbox flushed", "sent", stats.Sent, "retrying", stats.Retrying, "failed", stats.Failed)
	}
	return err
}

// newWebService wires the subscription service: store, links, the
// confirmation renderer, the welcome issue and the outbox worker that
// sends what it records.
func newWebService(cfg *config.Config, st *store.DB, log *slog.Logger) (*subscribers.Service, *outbox.Worker, error) {
	signer, err := newSigner(cfg, true)
	if err != nil {
		return nil, nil, err
	}
	lb, err := newLinks(cfg, signer)
	if err != nil {
		return nil, nil, err
	}
	r, err := newRenderer(cfg)
	if err != nil {
		return nil, nil, err
	}
	w, err := newOutbox(cfg, st, log)
	if err != nil {
		return nil, nil, err
	}
	o := subscribers.ServiceOptions{
		Store: st, Links: lb, Renderer: r, Outbox: w,
		Newsletter: cfg.Newsletter, Server: cfg.Server, Editions: cfg.Editions,
		Topics: topicNames(cfg), Logger: log,
	}
	if cfg.Server.Welcome != "none" {
		do := deliveryOptions(cfg)
		o.Welcome, err = delivery.NewWelcomer(delivery.WelcomeOptions{
			Editions: do.Editions, Newsletter: do.Newsletter, Archive: do.Archive,
			Store: st, Renderer: r, Links: lb,
		})
		if err != nil {
			return nil, nil, err
		}
	}
	svc, err := subscribers.NewService(o)
	if err != nil {
		return nil, nil, err
	}
	return svc, w, nil
}
