package subscribers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/outbox"
)

// Store is the part of the database the subscription flow needs;
// *store.DB satisfies it.
type Store interface {
	RosterStore
	RateWindows
	ChangeSubscriber(ctx context.Context, id int64, decide func(cur store.Subscriber) (store.Change, error)) (store.Subscriber, error)
	SubscriberByID(ctx context.Context, id int64) (store.Subscriber, error)
	SubscriberStamp(ctx context.Context, id int64) (int64, bool, error)
	ExpirePending(ctx context.Context, before time.Time) (int64, error)
	Ping(ctx context.Context) error
}

// ConfirmationRenderer renders the double opt-in email; *render.Renderer
// satisfies it. It is given only the link, so nothing a visitor typed can
// reach the body (the name goes in the To: header alone, cleaned).
type ConfirmationRenderer interface {
	Confirmation(confirmURL string) (subject string, html, text []byte, err error)
}

// WelcomeRenderer builds the welcome mail of a subscriber who just
// confirmed: the latest issue of their edition, for their topics, with
// their links. ok is false when there is nothing to send (no issue yet);
// *delivery.Welcomer satisfies it.
type WelcomeRenderer interface {
	Welcome(ctx context.Context, sub store.Subscriber) (msg *mailer.Message, ok bool, err error)
}

// Waker is told when mail was put in the outbox; *outbox.Worker satisfies
// it.
type Waker interface{ Wake() }

// Forms through which consent is given, recorded with each consent event.
const (
	FormWeb   = "web"
	FormEmail = "email"
	// FormOneClick is an RFC 8058 POST from a mail client's own button.
	FormOneClick = "one-click"
)

// ServiceOptions configures a Service. Store, Links (with a signer) and
// Renderer are required.
type ServiceOptions struct {
	Store    Store
	Links    *links.Builder
	Renderer ConfirmationRenderer
	// Welcome, when set, sends the latest issue on confirmation
	// (server.welcome = "latest").
	Welcome WelcomeRenderer
	// Outbox is woken when mail is recorded; nil: the worker finds it at
	// its next poll.
	Outbox     Waker
	Newsletter config.Newsletter
	Server     config.Server
	Editions   []config.Edition
	Topics     []string // topic names from [[topics]], in config order
	Logger     *slog.Logger
	Now        func() time.Time
	// MaxThrottleKeys bounds how many refused clients the per-IP
	// throttle remembers in memory (the count itself is in the store);
	// 0 means 10000.
	MaxThrottleKeys int
	// AnswerFloor is the least time a sign-up answer takes (0: 50ms;
	// negative: none). The store does more for a new address (a row, a
	// consent event, a mail) than for a known one (one rewrite); the floor
	// hides that difference, which no amount of equal code paths removes.
	AnswerFloor time.Duration
}

// Service holds the subscription flow shared by the web handlers and the
// inbound mail: double opt-in, unsubscribe, preferences. No method sends
// mail: mail goes into the outbox with the change that causes it.
type Service struct {
	st       Store
	roster   *Roster
	links    *links.Builder
	renderer ConfirmationRenderer
	welcome  WelcomeRenderer
	outbox   Waker
	nl       config.Newsletter
	srv      config.Server
	editions []config.Edition
	log      *slog.Logger
	now      func() time.Time
	fromHost string
	// perIP throttles sign-ups per client (IPv6 by /64), counted in the
	// store so that it holds across instances.
	perIP *throttle
	// answerFloor: see ServiceOptions.AnswerFloor.
	answerFloor time.Duration
}

// NewService checks o and fills in defaults for zero durations.
func NewService(o ServiceOptions) (*Service, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("subscribers: service: no store")
	case o.Links == nil || o.Links.Signer() == nil:
		return nil, errors.New("subscribers: service: no link builder with a token key")
	case o.Renderer == nil:
		return nil, errors.New("subscribers: service: no confirmation renderer")
	}
	from, err := mail.ParseAddress(o.Newsletter.From)
	if err != nil {
		return nil, fmt.Errorf("subscribers: service: newsletter.from %q: %w", o.Newsletter.From, err)
	}
	sv := o.Server
	setDefault(&sv.ConfirmTTL, config.DefaultConfirmTTL)
	setDefault(&sv.UnsubscribeTTL, config.DefaultUnsubscribeTTL)
	setDefault(&sv.PendingTTL, config.DefaultPendingTTL)
	setDefault(&sv.RateWindow, config.DefaultRateWindow)
	setDefault(&sv.ConfirmEvery, config.DefaultConfirmEvery)
	if sv.RatePerIP <= 0 {
		sv.RatePerIP = config.DefaultRatePerIP
	}
	if sv.ConsentText == "" {
		sv.ConsentText = config.DefaultConsentText
	}
	if sv.UnsubscribeTTL < 60*24*time.Hour {
		// Digests sit in inboxes for weeks; an unsubscribe link must keep
		// working (Gmail/Yahoo bulk-sender rules).
		return nil, fmt.Errorf("subscribers: service: server.unsubscribe_ttl %v is shorter than 60 days", sv.UnsubscribeTTL)
	}
	editions := o.Editions
	if len(editions) == 0 {
		editions = []config.Edition{{Name: "default"}}
	}
	names := make([]string, len(editions))
	for i, e := range editions {
		names[i] = e.Name
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	roster, err := NewRoster(RosterOptions{Store: o.Store, Topics: o.Topics, Editions: names, Now: now, Logger: log})
	if err != nil {
		return nil, err
	}
	floor := o.AnswerFloor
	switch {
	case floor == 0:
		floor = 50 * time.Millisecond
	case floor < 0:
		floor = 0
	}
	maxKeys := o.MaxThrottleKeys
	if maxKeys <= 0 {
		maxKeys = 10000
	}
	return &Service{
		st: o.Store, roster: roster, links: o.Links, renderer: o.Renderer, welcome: o.Welcome, outbox: o.Outbox,
		nl: o.Newsletter, srv: sv, editions: editions, log: log, now: now,
		fromHost:    from.Address[strings.LastIndexByte(from.Address, '@')+1:],
		perIP:       newThrottle(o.Store, sv.RatePerIP, sv.RateWindow, maxKeys, log),
		answerFloor: floor,
	}, nil
}

func setDefault(p *time.Duration, v time.Duration) {
	if *p <= 0 {
		*p = v
	}
}

// Roster returns the list rules the service applies.
func (s *Service) Roster() *Roster { return s.roster }

// SubscribeRequest is one sign-up, from the web form or an email command.
type SubscribeRequest struct {
	Email, Name string
	Topics      []string
	Edition     string
	IP          string
	UserAgent   string
	Form        string // FormWeb or FormEmail
}

// Subscribe validates r, records a pending subscriber with a consent event
// and puts the confirmation mail in the outbox, in one transaction. Every
// valid request takes the same path, so it takes as long and answers the
// same whoever the address belongs to: a confirmed address changes nothing
// (a stranger cannot change their choices), and an address that had a
// confirmation within server.confirm_every gets no second one, silently.
// Pending, unsubscribed and bounced addresses get a fresh link. The only
// error a visitor can cause is *AddressError.
func (s *Service) Subscribe(ctx context.Context, r SubscribeRequest) error {
	email, err := NormalizeAddress(r.Email)
	if err != nil {
		return err
	}
	now := s.now()
	name := cleanName(r.Name)
	topics, edition := s.roster.cleanTopics(r.Topics), s.roster.cleanEdition(r.Edition)
	queued := false
	sub, created, err := s.st.UpsertSubscriber(ctx, store.Subscriber{
		Email: email, Name: name, Status: store.StatusPending, Topics: topics, Edition: edition, Created: now,
	}, func(cur store.Subscriber, created bool) (store.Change, error) {
		// The mail is built for every request, sent or not, so that the
		// work (and the time) does not depend on who asked.
		to := cur.Name
		if name != "" {
			to = name
		}
		m, err := s.confirmation(cur, to, now)
		if err != nil {
			return store.Change{}, err
		}
		if cur.Status == store.StatusConfirmed ||
			(!cur.ConfirmSentAt.IsZero() && now.Sub(cur.ConfirmSentAt) < s.srv.ConfirmEvery) {
			return store.Change{Touch: true}, nil
		}
		queued = true
		c := store.Change{
			ConfirmSentAt: now, Mail: &m,
			Consent: &store.ConsentEvent{Kind: store.ConsentSubscribe, At: now, IP: r.IP,
				UserAgent: truncate(r.UserAgent, 500), Form: r.Form, Text: s.srv.ConsentText},
		}
		if !created {
			// The newest form wins: a pending address has agreed to
			// nothing yet, and an unsubscribed one re-agrees on confirm.
			mergeFields(&c, cur, name, nil, "")
			c.SetPreferences, c.Topics, c.Edition = true, topics, edition
		}
		return c, nil
	})
	if err != nil {
		return fmt.Errorf("subscribers: subscribe: %w", err)
	}
	if queued {
		s.wake()
		s.log.InfoContext(ctx, "subscribe: confirmation queued", "subscriber", sub.ID, "new", created, "form", r.Form)
	} else {
		s.log.InfoContext(ctx, "subscribe: nothing to send", "subscriber", sub.ID, "status", sub.Status, "form", r.Form)
	}
	return nil
}

func (s *Service) wake() {
	if s.outbox != nil {
		s.outbox.Wake()
	}
}

// confirmation builds the double opt-in mail for sub. The token is issued
// at the same second that is stored as confirm_sent_at, which Confirm uses
// to tell a fresh link from one that predates an unsubscribe.
func (s *Service) confirmation(sub store.Subscriber, name string, at time.Time) (store.OutboxMail, error) {
	link := s.links.ConfirmURL(links.Subject{ID: sub.ID, Stamp: sub.Stamp}, at)
	subject, html, text, err := s.renderer.Confirmation(link)
	if err != nil {
		return store.OutboxMail{}, fmt.Errorf("render confirmation: %w", err)
	}
	msg := &mailer.Message{
		From:      s.nl.From,
		To:        (&mail.Address{Name: name, Address: sub.Email}).String(),
		ReplyTo:   s.nl.ReplyTo,
		Subject:   subject,
		Date:      at,
		MessageID: fmt.Sprintf("confirm-%d.%s@%s", sub.ID, randomHex(8), s.fromHost),
		HTML:      html,
		Text:      text,
		Headers:   map[string]string{"Auto-Submitted": "auto-generated"},
	}
	return outbox.Mail(outbox.KindConfirm, sub.ID, msg, at)
}

// ErrStaleLink is a confirm link older than the subscriber's last
// unsubscribe: clicking an old email must not resubscribe anyone.
var ErrStaleLink = errors.New("subscribers: this link was issued before you unsubscribed")

// ConfirmPage is what GET /confirm shows: the subscriber the link is for
// and whether confirming is still to do. It changes nothing.
func (s *Service) ConfirmPage(ctx context.Context, token string) (store.Subscriber, error) {
	c, sub, err := s.tokenSubscriber(ctx, token, links.PurposeConfirm)
	if err != nil {
		return store.Subscriber{}, err
	}
	if stale(c, sub) {
		return store.Subscriber{}, ErrStaleLink
	}
	return sub, nil
}

// stale reports whether a confirm token predates the subscriber leaving.
func stale(c links.Claims, sub store.Subscriber) bool {
	if sub.Status != store.StatusUnsubscribed && sub.Status != store.StatusBounced {
		return false
	}
	return !issuedSince(c.Issued, sub.Unsubscribed) || !issuedSince(c.Issued, sub.ConfirmSentAt)
}

// Confirm completes the double opt-in for a confirm token (POST /confirm):
// the status, its consent event and the welcome mail in one transaction.
// Confirming twice is not an error. Token errors are links.ErrTokenInvalid,
// links.ErrTokenExpired or ErrStaleLink; the caller answers 4xx and nothing
// has changed.
func (s *Service) Confirm(ctx context.Context, token string, ip, ua string) (store.Subscriber, error) {
	c, sub, err := s.tokenSubscriber(ctx, token, links.PurposeConfirm)
	if err != nil {
		return store.Subscriber{}, err
	}
	if sub.Status == store.StatusConfirmed {
		return sub, nil
	}
	// The welcome is rendered before the transaction: it reads the last
	// issue, which must not hold the store's write lock.
	var welcome *store.OutboxMail
	if s.welcome != nil {
		w, err := s.welcomeMail(ctx, sub)
		if err != nil {
			// A broken welcome must not stop a confirmation.
			s.log.ErrorContext(ctx, "confirm: welcome mail", "subscriber", sub.ID, "err", err)
		}
		welcome = w
	}
	now := s.now()
	sub, err = s.st.ChangeSubscriber(ctx, sub.ID, func(cur store.Subscriber) (store.Change, error) {
		if cur.Status == store.StatusConfirmed {
			return store.Change{}, nil
		}
		if stale(c, cur) {
			return store.Change{}, ErrStaleLink
		}
		return store.Change{Status: store.StatusConfirmed, At: now, Mail: welcome,
			Consent: &store.ConsentEvent{Kind: store.ConsentConfirm, At: now, IP: ip,
				UserAgent: truncate(ua, 500), Form: FormWeb, Text: s.srv.ConsentText}}, nil
	})
	switch {
	case errors.Is(err, ErrStaleLink):
		return store.Subscriber{}, ErrStaleLink
	case errors.Is(err, store.ErrNotFound):
		return store.Subscriber{}, links.ErrTokenInvalid
	case err != nil:
		return store.Subscriber{}, fmt.Errorf("subscribers: confirm: %w", err)
	}
	if welcome != nil {
		s.wake()
	}
	s.log.InfoContext(ctx, "subscriber confirmed", "subscriber", sub.ID, "welcome", welcome != nil)
	return sub, nil
}

func (s *Service) welcomeMail(ctx context.Context, sub store.Subscriber) (*store.OutboxMail, error) {
	msg, ok, err := s.welcome.Welcome(ctx, sub)
	if err != nil || !ok {
		return nil, err
	}
	m, err := outbox.Mail(outbox.KindWelcome, sub.ID, msg, s.now())
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// issuedSince reports whether a token issued at issued (whole seconds) is
// not older than t.
func issuedSince(issued, t time.Time) bool {
	return t.IsZero() || !issued.Before(t.Truncate(time.Second))
}

// Unsubscribe takes a subscriber off the list at once and records it, in
// one transaction. It is idempotent, and an unknown ID (an expired pending
// address) is success: either way the address gets no more mail.
func (s *Service) Unsubscribe(ctx context.Context, subscriberID int64, ip, ua, form string) error {
	now := s.now()
	changed := false
	_, err := s.st.ChangeSubscriber(ctx, subscriberID, func(cur store.Subscriber) (store.Change, error) {
		if cur.Status == store.StatusUnsubscribed {
			return store.Change{}, nil
		}
		changed = true
		return store.Change{Status: store.StatusUnsubscribed, At: now,
			Consent: &store.ConsentEvent{Kind: store.ConsentUnsubscribe, At: now, IP: ip, UserAgent: truncate(ua, 500), Form: form}}, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("subscribers: unsubscribe: %w", err)
	}
	if changed {
		s.log.InfoContext(ctx, "subscriber unsubscribed", "subscriber", subscriberID, "form", form)
	}
	return nil
}

// SetPreferences replaces a subscriber's topics and edition; unknown topic
// names are dropped and an unknown edition means the default one.
func (s *Service) SetPreferences(ctx context.Context, subscriberID int64, topics []string, edition, ip, ua string) (store.Subscriber, error) {
	topics, edition = s.roster.cleanTopics(topics), s.roster.cleanEdition(edition)
	now := s.now()
	sub, err := s.st.ChangeSubscriber(ctx, subscriberID, func(store.Subscriber) (store.Change, error) {
		return store.Change{SetPreferences: true, Topics: topics, Edition: edition,
			Consent: &store.ConsentEvent{Kind: store.ConsentPreferences, At: now, IP: ip, UserAgent: truncate(ua, 500), Form: FormWeb,
				Text: "topics=" + strings.Join(topics, ";") + " edition=" + edition}}, nil
	})
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("subscribers: preferences: %w", err)
	}
	return sub, nil
}

// ExpirePending deletes subscribers who did not confirm within
// server.pending_ttl and returns how many.
func (s *Service) ExpirePending(ctx context.Context) (int64, error) {
	n, err := s.st.ExpirePending(ctx, s.now().Add(-s.srv.PendingTTL))
	if err != nil {
		return 0, fmt.Errorf("subscribers: %w", err)
	}
	if n > 0 {
		s.log.InfoContext(ctx, "expired unconfirmed subscribers", "count", n)
	}
	return n, nil
}

// RunExpiry calls ExpirePending now and then every interval until ctx is
// done, for `digest serve` and `digest run`. Errors are logged, not fatal:
// a busy database is no reason to stop serving.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.ExpirePending(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "expire pending subscribers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ping reports whether the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.st.Ping(ctx) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
