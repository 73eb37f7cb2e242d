// Package inbound reads the list's mailbox over IMAP and acts on what
// arrives: "subscribe", "unsubscribe" and "help" commands sent by email,
// messages to the tokenised List-Unsubscribe mailto: address, and bounces
// (which count toward suppressing the address). Auto-replies are ignored
// and nothing from a mail system is ever answered, so no loop can start.
//
// Each message is handled at most once as far as the store can tell: its
// key is checked before acting and recorded right after, then the message is
// moved out of the way. A crash between the record and the move only means
// the next pass moves it without acting again.
package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/subscribers"
)

// Store is the part of the database the poller needs; *store.DB satisfies it.
type Store interface {
	SubscriberByEmail(ctx context.Context, email string) (store.Subscriber, error)
	SubscriberByID(ctx context.Context, id int64) (store.Subscriber, error)
	SubscriberStamp(ctx context.Context, id int64) (int64, bool, error)
	RecordBounce(ctx context.Context, subscriberID int64, hard bool, reason string, hardLimit, softLimit int, at time.Time) (bool, error)
	InboundProcessed(ctx context.Context, key string) (bool, error)
	MarkInboundProcessed(ctx context.Context, key string, at time.Time) error
}

// Subscriptions is the shared subscription flow (the same throttles as the
// web form); *subscribers.Service satisfies it.
type Subscriptions interface {
	Subscribe(ctx context.Context, r subscribers.SubscribeRequest) error
	Unsubscribe(ctx context.Context, subscriberID int64, ip, ua, form string) error
}

// Outbox takes the help replies for sending; *outbox.Worker satisfies it.
type Outbox interface {
	Enqueue(ctx context.Context, kind string, subscriberID int64, msg *mailer.Message) error
}

// Options configures a Poller. Store, Service, Outbox and Signer are
// required, and Config must name a host and an address.
type Options struct {
	Config     config.Inbound
	Delivery   config.Delivery
	Newsletter config.Newsletter
	Password   string
	Store      Store
	Service    Subscriptions
	Outbox     Outbox
	Signer     *links.Signer
	Logger     *slog.Logger
	Now        func() time.Time
}

// Stats counts what one pass did. A message counts once, under what it
// turned out to be; bounce counts are per recorded recipient.
type Stats struct {
	Seen, Subscribed, Unsubscribed, HardBounces, SoftBounces, Ignored, Failed int
	Replied                                                                   int // help replies sent
	Skipped                                                                   int // already handled before (a crash before the move)
}

// String is the one-line summary `digest inbound` prints.
func (s Stats) String() string {
	return fmt.Sprintf("seen %d, subscribed %d, unsubscribed %d, hard bounces %d, soft bounces %d, replied %d, ignored %d, failed %d, already handled %d",
		s.Seen, s.Subscribed, s.Unsubscribed, s.HardBounces, s.SoftBounces, s.Replied, s.Ignored, s.Failed, s.Skipped)
}

func (s *Stats) add(o Stats) {
	s.Seen += o.Seen
	s.Subscribed += o.Subscribed
	s.Unsubscribed += o.Unsubscribed
	s.HardBounces += o.HardBounces
	s.SoftBounces += o.SoftBounces
	s.Ignored += o.Ignored
	s.Failed += o.Failed
	s.Replied += o.Replied
	s.Skipped += o.Skipped
}

// Poller polls one mailbox. It is not meant for concurrent PollOnce calls.
type Poller struct {
	o    Options
	log  *slog.Logger
	now  func() time.Time
	self []string // our own addresses, lowercased: never answered

	// Test hooks, nil in production: hookBeforeAct runs after the fetch and
	// before acting, hookAfterMark after the processed mark and before the
	// move. An error from either stops the pass as a crash would.
	hookBeforeAct func(key string) error
	hookAfterMark func(key string) error
	// tlsConfig replaces the client TLS config (tests trust their own
	// self-signed certificate with it).
	tlsConfig *tls.Config
}

// New checks o and returns a Poller.
func New(o Options) (*Poller, error) {
	switch {
	case o.Store == nil || o.Service == nil || o.Outbox == nil || o.Signer == nil:
		return nil, errors.New("inbound: Store, Service, Outbox and Signer are required")
	case o.Config.IMAPHost == "":
		return nil, errors.New("inbound: [inbound] imap_host is not set")
	case o.Config.Address == "":
		return nil, errors.New("inbound: [inbound] address is not set")
	}
	if _, err := subscribers.NormalizeAddress(bareAddr(o.Config.Address)); err != nil {
		return nil, fmt.Errorf("inbound: [inbound] address: %w", err)
	}
	switch o.Config.TLS {
	case "", "tls", "starttls", "none":
	default:
		return nil, fmt.Errorf("inbound: [inbound] tls = %q: want tls, starttls or none", o.Config.TLS)
	}
	if o.Config.Mailbox == "" {
		o.Config.Mailbox = "INBOX"
	}
	if o.Config.PollInterval <= 0 {
		o.Config.PollInterval = config.DefaultPollInterval
	}
	if o.Delivery.BounceAfter == 0 {
		o.Delivery.BounceAfter = config.DefaultBounceAfter
	}
	if o.Delivery.SoftBounceAfter == 0 {
		o.Delivery.SoftBounceAfter = config.DefaultSoftBounceAfter
	}
	p := &Poller{o: o, log: o.Logger, now: o.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, a := range []string{o.Config.Address, o.Config.BounceAddress, o.Newsletter.From, o.Newsletter.ReplyTo} {
		if a = strings.ToLower(bareAddr(a)); a != "" {
			p.self = append(p.self, a)
		}
	}
	// A local part holds 64 characters; tokens take about 40 of them.
	if local, _, _ := strings.Cut(bareAddr(o.Config.Address), "@"); len(local)+len(tagUnsubscribe)+42 > 64 {
		p.log.Warn("inbound: the local part of [inbound] address is long; tokenised addresses may exceed 64 characters and be refused by some servers", "address", o.Config.Address)
	}
	return p, nil
}

// Run calls PollOnce every poll_interval until ctx is done. A failed pass
// is logged and retried at the next tick: the mail server being down for a
// while must not stop the daemon.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.o.Config.PollInterval)
	defer t.Stop()
	for {
		st, err := p.PollOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			p.log.ErrorContext(ctx, "inbound: poll failed", "err", err)
		case st.Seen > 0:
			p.log.InfoContext(ctx, "inbound: poll", "seen", st.Seen, "subscribed", st.Subscribed,
				"unsubscribed", st.Unsubscribed, "hard_bounces", st.HardBounces, "soft_bounces", st.SoftBounces,
				"ignored", st.Ignored, "failed", st.Failed)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Poller) isSelf(addr string) bool {
	addr = strings.ToLower(addr)
	for _, s := range p.self {
		if addr == s {
			return true
		}
		// Our own tagged addresses (list+bounces-…@) are ours too.
		if sl, sd, ok := strings.Cut(s, "@"); ok {
			if al, ad, ok := strings.Cut(addr, "@"); ok && ad == sd && strings.HasPrefix(al, sl+"+") {
				return true
			}
		}
	}
	return false
}
