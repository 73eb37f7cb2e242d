package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/pipeline"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
)

// openStore opens the store the config names: the SQLite file at
// store.path, or the PostgreSQL database whose URL is in the environment
// variable store.url_env names.
func openStore(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	o, err := storeOptions(cfg)
	if err != nil {
		return nil, err
	}
	return store.OpenWith(ctx, o)
}

// storeOptions maps [store] onto store.Options, reading the PostgreSQL URL
// from the environment.
func storeOptions(cfg *config.Config) (store.Options, error) {
	s := cfg.Store
	if !s.Postgres() {
		return store.Options{Driver: store.DriverSQLite, Path: cfg.Resolve(s.Path)}, nil
	}
	u := s.URL()
	if u == "" {
		return store.Options{}, cfg.ErrorAt("store.url_env", errNoStoreURL(s.URLEnv))
	}
	return store.Options{Driver: store.DriverPostgres, URL: u}, nil
}

func errNoStoreURL(env string) error {
	return fmt.Errorf("%s is not set in this environment: with driver = \"postgres\" it holds the store's URL (postgres://user:password@host:5432/db)", env)
}

// openStoreIfExists is for read-only commands (dry run, preview): a fresh
// clone has no store yet, and looking must not create one. A PostgreSQL
// store is always opened: the database is there or the URL is wrong, and
// either way the operator wants to know.
func openStoreIfExists(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	if !cfg.Store.Postgres() {
		if _, err := os.Stat(cfg.Resolve(cfg.Store.Path)); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	return openStore(ctx, cfg)
}

func newRenderer(cfg *config.Config) (*render.Renderer, error) {
	return render.New(render.Options{
		Newsletter:   cfg.Newsletter,
		Theme:        cfg.Theme,
		TemplatesDir: cfg.Resolve(cfg.Theme.TemplatesDir),
		IssueLinks:   cfg.Archive.On(),
	})
}

func newMailer(cfg *config.Config, log *slog.Logger) (*mailer.Mailer, error) {
	var dk *mailer.DKIMOptions
	if cfg.DKIM.Enabled() {
		key, err := mailer.LoadDKIMKey(cfg.Resolve(cfg.DKIM.PrivateKeyFile))
		if err != nil {
			return nil, fmt.Errorf("dkim.private_key_file: %w", err)
		}
		dk = &mailer.DKIMOptions{Domain: cfg.DKIM.Domain, Selector: cfg.DKIM.Selector, Signer: key}
	}
	return mailer.New(mailerOptions(cfg, dk, log))
}

// mailerOptions maps the [smtp] and [delivery] sections onto the mailer's
// own options; the password comes from the environment variable the config
// names.
func mailerOptions(cfg *config.Config, dk *mailer.DKIMOptions, log *slog.Logger) mailer.Options {
	s, d := cfg.SMTP, cfg.Delivery
	return mailer.Options{
		Host: s.Host, Port: s.Port, TLS: s.TLS,
		Username: s.Username, Password: s.Password(),
		HELO: s.HELO, InsecureSkipVerify: s.InsecureSkipVerify,
		Concurrency: s.Concurrency, Rate: s.Rate, Timeout: s.Timeout,
		MaxPerConnection: s.MaxPerConnection,
		Retries:          d.Retries, RetryBackoff: d.RetryBackoff, MaxBackoff: d.MaxBackoff,
		DKIM: dk, Logger: log,
	}
}

// newSigner reads the HMAC key from the environment. Without one, a dry
// run or preview may go on with placeholder links (nil), a real send not.
func newSigner(cfg *config.Config, required bool) (*links.Signer, error) {
	key := cfg.Server.Secret()
	if len(key) == 0 && !required {
		return nil, nil
	}
	t, err := links.NewSigner(key, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Server.SecretEnv, err)
	}
	return t, nil
}

// newLinks builds the newsletter's URLs; a nil signer gives placeholder
// tokens.
func newLinks(cfg *config.Config, signer *links.Signer) (*links.Builder, error) {
	b, err := links.NewBuilder(cfg.Newsletter.BaseURL, signer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return b, nil
}

// buildFunc collects and groups with the config's sources. Conditional GET
// state is used only when st is given: a dry run must not remember ETags, or
// the real send after it would get 304s and miss the articles.
func buildFunc(cfg *config.Config, st *store.DB, edition string, log *slog.Logger) delivery.BuildFunc {
	return func(ctx context.Context, from, to time.Time, seen func(string) bool) (*digest.Digest, error) {
		o := pipeline.Options{From: from, To: to, Edition: edition, Seen: seen, Logger: log}
		if st != nil {
			o.State = st.FeedStates(edition)
		}
		return pipeline.Build(ctx, cfg, o), nil
	}
}

// newSender wires the delivery engine. st may be nil (dry run without a store).
func newSender(cfg *config.Config, st *store.DB, dryRun bool, signer *links.Signer, edition string, progress func(delivery.Summary), log *slog.Logger) (*delivery.Sender, error) {
	stateStore := st
	if dryRun {
		stateStore = nil
	}
	r, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	m, err := newMailer(cfg, log)
	if err != nil {
		return nil, err
	}
	lb, err := newLinks(cfg, signer)
	if err != nil {
		return nil, err
	}
	o := deliveryOptions(cfg)
	o.Mailer, o.Renderer, o.Links = m, r, lb
	o.Build = buildFunc(cfg, stateStore, edition, log)
	o.Logger, o.Progress = log, progress
	o.Settle = debug.FreeOSMemory
	o.BounceAddress, o.UnsubscribeMailto = inboundAddresses(cfg, signer)
	if st != nil {
		o.Store = st
	}
	return delivery.New(o), nil
}

// deliveryOptions maps the config onto the delivery engine's options.
func deliveryOptions(cfg *config.Config) delivery.Options {
	nl, d := cfg.Newsletter, cfg.Delivery
	o := delivery.Options{
		Newsletter: delivery.Newsletter{
			From: nl.From, ReplyTo: nl.ReplyTo, BaseURL: nl.BaseURL,
			ListID: delivery.ListID(nl.Title, nl.From, nl.ListID),
		},
		Window: nl.Window, LateArrival: nl.LateArrival,
		Concurrency: cfg.SMTP.Concurrency,
		MarkBatch:   d.MarkBatch, MarkInterval: d.MarkInterval, ClaimTTL: d.ClaimTTL, Breaker: d.Breaker,
		BounceAfter: d.BounceAfter, SoftBounceAfter: d.SoftBounceAfter,
		Archive: cfg.Archive.On(),
	}
	for _, e := range cfg.Editions {
		o.Editions = append(o.Editions, delivery.Edition{Name: e.Name, SkipEmpty: e.SkipEmpty()})
	}
	for _, s := range cfg.Sources {
		o.Sources = append(o.Sources, s.Name)
	}
	return o
}
