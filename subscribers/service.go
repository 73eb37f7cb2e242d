package subscribers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
)

// Store is the part of the database the subscription flow needs;
// *store.DB satisfies it.
type Store interface {
	AddSubscriber(ctx context.Context, s store.Subscriber) (store.Subscriber, bool, error)
	SubscriberByID(ctx context.Context, id int64) (store.Subscriber, error)
	SetStatus(ctx context.Context, id int64, status string, at time.Time) error
	SetPreferences(ctx context.Context, id int64, topics []string, edition string) error
	MarkConfirmationSent(ctx context.Context, id int64, at time.Time) error
	ExpirePending(ctx context.Context, before time.Time) (int64, error)
	AddConsent(ctx context.Context, ev store.ConsentEvent) error
	Ping(ctx context.Context) error
}

// Sender delivers one message; *mailer.Mailer satisfies it.
type Sender interface {
	Send(ctx context.Context, msg *mailer.Message) error
}

// ConfirmationRenderer renders the double opt-in email; *render.Renderer
// satisfies it. It is given only the link, so nothing a visitor typed
// (the name above all) can reach the message.
type ConfirmationRenderer interface {
	Confirmation(confirmURL string) (subject string, html, text []byte, err error)
}

// ErrThrottled means the same address asked for a confirmation email too
// recently (server.confirm_every). The web answers 429.
var ErrThrottled = errors.New("subscribers: too many requests for this address, try again later")

// Forms through which consent is given, recorded with each consent event.
const (
	FormWeb   = "web"
	FormEmail = "email"
	// FormOneClick is an RFC 8058 POST from a mail client's own button.
	FormOneClick = "one-click"
)

// maxNameLen bounds the optional name; it is stored, never mailed.
const maxNameLen = 100

// ServiceOptions configures a Service. Store, Sender, Renderer and Tokens
// are required.
type ServiceOptions struct {
	Store      Store
	Sender     Sender
	Renderer   ConfirmationRenderer
	Tokens     *Tokens
	Newsletter config.Newsletter
	Server     config.Server
	Editions   []config.Edition
	Topics     []string // topic names from [[topics]], in config order
	Logger     *slog.Logger
	Now        func() time.Time
	// MaxThrottleKeys bounds the memory of the per-address and per-IP
	// throttles; 0 means 10000.
	MaxThrottleKeys int
}

// Service holds the subscription logic shared by the web handlers and by
// the inbound-mail commands.
type Service struct {
	st       Store
	sender   Sender
	renderer ConfirmationRenderer
	tokens   *Tokens
	nl       config.Newsletter
	srv      config.Server
	editions []config.Edition
	topics   []string
	log      *slog.Logger
	now      func() time.Time
	baseURL  string
	fromHost string
	maxKeys  int

	// perAddress remembers the last confirmation request per address in
	// memory, whatever the address's state, so a known address is
	// throttled exactly like a new one (no enumeration through 429s). The
	// store's confirm_sent_at covers restarts for pending addresses.
	perAddress *limiter
}

// NewService checks o and fills in defaults for zero durations.
func NewService(o ServiceOptions) (*Service, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("subscribers: service: no store")
	case o.Sender == nil:
		return nil, errors.New("subscribers: service: no sender")
	case o.Renderer == nil:
		return nil, errors.New("subscribers: service: no confirmation renderer")
	case o.Tokens == nil:
		return nil, errors.New("subscribers: service: no token signer")
	}
	base := strings.TrimRight(o.Newsletter.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("subscribers: service: newsletter.base_url %q is not an absolute http(s) URL", o.Newsletter.BaseURL)
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
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	maxKeys := o.MaxThrottleKeys
	if maxKeys <= 0 {
		maxKeys = 10000
	}
	host := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return &Service{
		st: o.Store, sender: o.Sender, renderer: o.Renderer, tokens: o.Tokens,
		nl: o.Newsletter, srv: sv, editions: editions, topics: slices.Clone(o.Topics),
		log: log, now: now, baseURL: base, fromHost: host, maxKeys: maxKeys,
		perAddress: newLimiter(1, sv.ConfirmEvery, maxKeys),
	}, nil
}

func setDefault(p *time.Duration, v time.Duration) {
	if *p <= 0 {
		*p = v
	}
}

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
// and sends the confirmation email. A known address gets the same outcome as
// a new one: confirmed addresses are left alone, pending and unsubscribed
// ones get a fresh confirmation link. It returns *AddressError for a bad
// address and ErrThrottled when the address asked within confirm_every.
func (s *Service) Subscribe(ctx context.Context, r SubscribeRequest) error {
	email, err := NormalizeAddress(r.Email)
	if err != nil {
		return err
	}
	now := s.now()
	if ok, _ := s.perAddress.allow(strings.ToLower(email), now); !ok {
		return ErrThrottled
	}
	topics := s.cleanTopics(r.Topics)
	edition := s.cleanEdition(r.Edition)
	sub, created, err := s.st.AddSubscriber(ctx, store.Subscriber{
		Email: email, Name: cleanName(r.Name), Status: store.StatusPending,
		Topics: topics, Edition: edition, Created: now,
	})
	if err != nil {
		return fmt.Errorf("subscribers: subscribe: %w", err)
	}
	if !created {
		switch sub.Status {
		case store.StatusConfirmed:
			// Nothing to do, and nothing to tell: the page reads the same.
			s.log.InfoContext(ctx, "subscribe: already confirmed", "subscriber", sub.ID, "form", r.Form)
			return nil
		case store.StatusPending, store.StatusUnsubscribed, store.StatusBounced:
			if !sub.ConfirmSentAt.IsZero() && now.Sub(sub.ConfirmSentAt) < s.srv.ConfirmEvery {
				// Only after a restart (the in-memory throttle forgot):
				// stay quiet rather than answer differently.
				s.log.InfoContext(ctx, "subscribe: confirmation sent recently, not resending", "subscriber", sub.ID)
				return nil
			}
			// The newest form wins: a pending address has agreed to
			// nothing yet, and an unsubscribed one re-agrees on confirm.
			if err := s.st.SetPreferences(ctx, sub.ID, topics, edition); err != nil {
				return fmt.Errorf("subscribers: subscribe: %w", err)
			}
		}
	}
	if err := s.st.AddConsent(ctx, store.ConsentEvent{
		SubscriberID: sub.ID, Kind: store.ConsentSubscribe, At: now,
		IP: r.IP, UserAgent: truncate(r.UserAgent, 500), Form: r.Form, Text: s.srv.ConsentText,
	}); err != nil {
		return fmt.Errorf("subscribers: subscribe: %w", err)
	}
	if err := s.sendConfirmation(ctx, sub, now); err != nil {
		// Nothing went out: let the visitor try again without waiting.
		s.perAddress.forget(strings.ToLower(email))
		return err
	}
	s.log.InfoContext(ctx, "subscribe: confirmation sent", "subscriber", sub.ID, "new", created, "form", r.Form)
	return nil
}

// sendConfirmation mails the double opt-in link. The token is issued at the
// same second that is stored as confirm_sent_at, which Confirm uses to tell
// a fresh link from one that predates an unsubscribe.
func (s *Service) sendConfirmation(ctx context.Context, sub store.Subscriber, at time.Time) error {
	tok := s.tokens.SignClaims(Claims{Purpose: PurposeConfirm, Subscriber: sub.ID, Issued: at})
	link := s.link("confirm", tok)
	subject, html, text, err := s.renderer.Confirmation(link)
	if err != nil {
		return fmt.Errorf("subscribers: render confirmation: %w", err)
	}
	msg := &mailer.Message{
		From:      s.nl.From,
		To:        sub.Email, // the bare address: no visitor-supplied name in headers
		ReplyTo:   s.nl.ReplyTo,
		Subject:   subject,
		Date:      at,
		MessageID: fmt.Sprintf("confirm-%d.%s@%s", sub.ID, randomHex(8), s.fromHost),
		HTML:      html,
		Text:      text,
		Headers:   map[string]string{"Auto-Submitted": "auto-generated"},
	}
	if err := s.sender.Send(ctx, msg); err != nil {
		return fmt.Errorf("subscribers: send confirmation to subscriber %d: %w", sub.ID, err)
	}
	if err := s.st.MarkConfirmationSent(ctx, sub.ID, at); err != nil {
		return fmt.Errorf("subscribers: subscribe: %w", err)
	}
	return nil
}

// ErrStaleLink is a confirm link older than the subscriber's last
// unsubscribe: clicking an old email must not resubscribe anyone.
var ErrStaleLink = errors.New("subscribers: this link was issued before you unsubscribed")

// Confirm completes the double opt-in for a confirm token. Confirming twice
// is not an error. Token errors are ErrTokenInvalid, ErrTokenExpired or
// ErrStaleLink; the caller answers 4xx and nothing has changed.
func (s *Service) Confirm(ctx context.Context, token string, ip, ua string) (store.Subscriber, error) {
	c, err := s.tokens.Verify(token, PurposeConfirm, s.srv.ConfirmTTL)
	if err != nil {
		return store.Subscriber{}, err
	}
	sub, err := s.st.SubscriberByID(ctx, c.Subscriber)
	if errors.Is(err, store.ErrNotFound) {
		// Expired and deleted pending subscriber: the link is dead.
		return store.Subscriber{}, ErrTokenExpired
	}
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("subscribers: confirm: %w", err)
	}
	switch sub.Status {
	case store.StatusConfirmed:
		return sub, nil
	case store.StatusUnsubscribed, store.StatusBounced:
		if !issuedSince(c.Issued, sub.Unsubscribed) || !issuedSince(c.Issued, sub.ConfirmSentAt) {
			return store.Subscriber{}, ErrStaleLink
		}
	}
	now := s.now()
	if err := s.st.SetStatus(ctx, sub.ID, store.StatusConfirmed, now); err != nil {
		return store.Subscriber{}, fmt.Errorf("subscribers: confirm: %w", err)
	}
	if err := s.st.AddConsent(ctx, store.ConsentEvent{
		SubscriberID: sub.ID, Kind: store.ConsentConfirm, At: now,
		IP: ip, UserAgent: truncate(ua, 500), Form: FormWeb, Text: s.srv.ConsentText,
	}); err != nil {
		return store.Subscriber{}, fmt.Errorf("subscribers: confirm: %w", err)
	}
	s.log.InfoContext(ctx, "subscriber confirmed", "subscriber", sub.ID)
	sub.Status, sub.Confirmed, sub.Unsubscribed = store.StatusConfirmed, now, time.Time{}
	return sub, nil
}

// issuedSince reports whether a token issued at issued (whole seconds) is
// not older than t.
func issuedSince(issued, t time.Time) bool {
	return t.IsZero() || !issued.Before(t.Truncate(time.Second))
}

// Unsubscribe takes a subscriber off the list at once and records it. It is
// idempotent, and an unknown ID (an expired pending address) is success:
// either way the address gets no more mail.
func (s *Service) Unsubscribe(ctx context.Context, subscriberID int64, ip, ua, form string) error {
	sub, err := s.st.SubscriberByID(ctx, subscriberID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("subscribers: unsubscribe: %w", err)
	}
	if sub.Status == store.StatusUnsubscribed {
		return nil
	}
	now := s.now()
	if err := s.st.SetStatus(ctx, sub.ID, store.StatusUnsubscribed, now); err != nil {
		return fmt.Errorf("subscribers: unsubscribe: %w", err)
	}
	if err := s.st.AddConsent(ctx, store.ConsentEvent{
		SubscriberID: sub.ID, Kind: store.ConsentUnsubscribe, At: now,
		IP: ip, UserAgent: truncate(ua, 500), Form: form,
	}); err != nil {
		return fmt.Errorf("subscribers: unsubscribe: %w", err)
	}
	s.log.InfoContext(ctx, "subscriber unsubscribed", "subscriber", sub.ID, "form", form)
	return nil
}

// SetPreferences replaces a subscriber's topics and edition; unknown topic
// names are dropped and an unknown edition means the default one.
func (s *Service) SetPreferences(ctx context.Context, subscriberID int64, topics []string, edition, ip, ua string) (store.Subscriber, error) {
	topics, edition = s.cleanTopics(topics), s.cleanEdition(edition)
	if err := s.st.SetPreferences(ctx, subscriberID, topics, edition); err != nil {
		return store.Subscriber{}, fmt.Errorf("subscribers: preferences: %w", err)
	}
	if err := s.st.AddConsent(ctx, store.ConsentEvent{
		SubscriberID: subscriberID, Kind: store.ConsentPreferences, At: s.now(),
		IP: ip, UserAgent: truncate(ua, 500), Form: FormWeb,
		Text: "topics=" + strings.Join(topics, ";") + " edition=" + edition,
	}); err != nil {
		return store.Subscriber{}, fmt.Errorf("subscribers: preferences: %w", err)
	}
	sub, err := s.st.SubscriberByID(ctx, subscriberID)
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("subscribers: preferences: %w", err)
	}
	return sub, nil
}

// Subscriber returns the subscriber a link token (of one of purposes)
// vouches for. Token errors are ErrTokenInvalid or ErrTokenExpired; a
// subscriber that no longer exists is ErrTokenInvalid.
func (s *Service) Subscriber(ctx context.Context, token string, purposes ...Purpose) (store.Subscriber, error) {
	id, err := s.VerifyLink(token, purposes...)
	if err != nil {
		return store.Subscriber{}, err
	}
	sub, err := s.st.SubscriberByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Subscriber{}, ErrTokenInvalid
	}
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("subscribers: %w", err)
	}
	return sub, nil
}

// VerifyLink checks an unsubscribe or preferences token (whichever of
// purposes matches first) with server.unsubscribe_ttl and returns the
// subscriber ID. The inbound-mail commands use it for tokens in addresses.
func (s *Service) VerifyLink(token string, purposes ...Purpose) (int64, error) {
	if len(purposes) == 0 {
		purposes = []Purpose{PurposeUnsubscribe}
	}
	err := ErrTokenInvalid
	for _, p := range purposes {
		maxAge := s.srv.UnsubscribeTTL
		if p == PurposeConfirm {
			maxAge = s.srv.ConfirmTTL
		}
		c, verr := s.tokens.Verify(token, p, maxAge)
		if verr == nil {
			return c.Subscriber, nil
		}
		if errors.Is(verr, ErrTokenExpired) {
			err = verr
		}
	}
	return 0, err
}

// UnsubscribeURL is the link for List-Unsubscribe and the visible footer
// link: {base_url}/unsubscribe?token=...
func (s *Service) UnsubscribeURL(subscriberID int64) string {
	return s.link("unsubscribe", s.tokens.Sign(PurposeUnsubscribe, subscriberID))
}

// PreferencesURL is {base_url}/preferences?token=...
func (s *Service) PreferencesURL(subscriberID int64) string {
	return s.link("preferences", s.tokens.Sign(PurposePreferences, subscriberID))
}

// ConfirmURL is {base_url}/confirm?token=...
func (s *Service) ConfirmURL(subscriberID int64) string {
	return s.link("confirm", s.tokens.Sign(PurposeConfirm, subscriberID))
}

func (s *Service) link(route, token string) string {
	return s.baseURL + "/" + route + "?token=" + url.QueryEscape(token)
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

// cleanTopics keeps the known topic names, in config order. Choosing every
// topic (or none) is stored as "all topics", so topics added to the config
// later reach those readers too.
func (s *Service) cleanTopics(in []string) []string {
	var out []string
	for _, t := range s.topics {
		if slices.ContainsFunc(in, func(x string) bool { return strings.EqualFold(strings.TrimSpace(x), t) }) {
			out = append(out, t)
		}
	}
	if len(out) == len(s.topics) {
		return nil
	}
	return out
}

// cleanEdition returns a known edition name, or "" (the default edition).
func (s *Service) cleanEdition(e string) string {
	e = strings.TrimSpace(e)
	for _, ed := range s.editions {
		if ed.Name == e {
			return e
		}
	}
	return ""
}

// cleanName trims the optional name, drops control and format characters
// (bidi overrides included) and bounds its length.
func cleanName(s string) string { return truncate(oneLine(s), maxNameLen) }

// oneLine replaces control and format characters with spaces and collapses
// runs of white space.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// limiter is a fixed-window counter per key with a bounded number of keys.
// When full it first forgets expired windows; if every key is still live
// it refuses new keys, which under a flood of distinct clients fails closed
// for sign-ups only.
type limiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	max    int
	m      map[string]*fixedWindow
}

type fixedWindow struct {
	start time.Time
	n     int
}

func newLimiter(limit int, window time.Duration, maxKeys int) *limiter {
	return &limiter{limit: limit, window: window, max: maxKeys, m: map[string]*fixedWindow{}}
}

// forget drops key's window.
func (l *limiter) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

// allow counts one event for key at now and reports whether it is within
// the limit, and if not, how long until the window resets.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[key]
	if ok && now.Sub(w.start) >= l.window {
		w.start, w.n = now, 0
	}
	if !ok {
		if len(l.m) >= l.max {
			for k, v := range l.m {
				if now.Sub(v.start) >= l.window {
					delete(l.m, k)
				}
			}
			if len(l.m) >= l.max {
				return false, l.window
			}
		}
		w = &fixedWindow{start: now}
		l.m[key] = w
	}
	if w.n >= l.limit {
		return false, w.start.Add(l.window).Sub(now)
	}
	w.n++
	return true, 0
}
