// Package delivery sends one issue of the newsletter to every subscriber of
// its edition, exactly once each as far as SMTP allows.
//
// The ledger is the store's deliveries table: one row per (issue,
// subscriber), created with the issue in one transaction before the first
// message leaves, so the recipient set of an issue is fixed and a resumed
// run sends to exactly those not yet marked sent. A row is marked sent right
// after the server accepts the message. To keep the crash window small,
// at most Concurrency messages are ever "sent but not yet marked": a slot is
// taken before a message is handed to the mailer and given back only when
// its mark is committed. Marks are committed in small groups (group commit),
// which keeps SQLite off the critical path.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
)

// Store is what delivery needs from persistence.
type Store interface {
	OpenIssue(ctx context.Context, edition string) (store.Issue, bool, error)
	LastIssue(ctx context.Context, edition string) (store.Issue, bool, error)
	CreateIssue(ctx context.Context, is store.Issue, defaultEdition string) (store.Issue, error)
	FinishIssue(ctx context.Context, id int64, at time.Time) error
	EachPending(ctx context.Context, issueID int64, batch int, fn func(store.Delivery) error) error
	MarkDeliveries(ctx context.Context, marks []store.Mark) error
	RecordBounce(ctx context.Context, subscriberID int64, hard bool, reason string, hardLimit, softLimit int, at time.Time) (bool, error)
	IssueCounts(ctx context.Context, issueID int64) (store.IssueSummary, error)
	EachSubscriber(ctx context.Context, f store.Filter, fn func(store.Subscriber) error) error
	SeenArticles(ctx context.Context, ids []string) (map[string]bool, error)
	MarkSeen(ctx context.Context, ids []string, issueID int64, at time.Time) error
}

// Mailer delivers messages over SMTP.
type Mailer interface {
	Deliver(ctx context.Context, jobs <-chan mailer.Job) <-chan mailer.Result
	Build(msg mailer.Mail) ([]byte, error)
}

// Renderer renders a digest once per topic set.
type Renderer interface {
	Render(d *digest.Digest, topics []string) (*render.Rendered, error)
}

// BuildFunc collects and groups the articles of a window.
type BuildFunc func(ctx context.Context, from, to time.Time, seen func(id string) bool) (*digest.Digest, error)

// Options wires a Sender.
type Options struct {
	Config   *config.Config
	Store    Store // nil only for a dry run without a store
	Mailer   Mailer
	Renderer Renderer
	// Links builds the unsubscribe and preferences URLs; without a signer
	// (no secret) only a dry run works.
	Links  *links.Builder
	Build  BuildFunc
	Logger *slog.Logger
	Now    func() time.Time
	// Progress, when set, is called after every mark with the running summary.
	Progress func(Summary)
	// BounceMailto builds the List-Unsubscribe mailto for a subscriber; nil: none.
	BounceAddress     func(who links.Subject, issueID int64) string
	UnsubscribeMailto func(who links.Subject) string
}

// Sender sends issues.
type Sender struct {
	o   Options
	log *slog.Logger
}

// New returns a Sender.
func New(o Options) *Sender {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sender{o: o, log: o.Logger}
}

// Summary is the outcome of one send, as printed by `digest send --json`.
type Summary struct {
	Issue           int64   `json:"issue"`
	Edition         string  `json:"edition"`
	Articles        int     `json:"articles"`
	Recipients      int     `json:"recipients"`
	Sent            int     `json:"sent"`
	FailedTemporary int     `json:"failed_temporary"`
	FailedPermanent int     `json:"failed_permanent"`
	Skipped         int     `json:"skipped"`
	Resumed         bool    `json:"resumed"`
	DryRun          bool    `json:"dry_run"`
	Empty           bool    `json:"empty"`
	Seconds         float64 `json:"seconds"`
	// Digest is the issue's content, for printing; not part of the JSON.
	Digest *digest.Digest `json:"-"`
}

// SendOptions are the per-run choices.
type SendOptions struct {
	Edition string
	DryRun  bool
	OutDir  string    // write .eml files and preview.html here
	Slot    time.Time // the scheduled slot (daemon); zero for a manual send
	// Force sends an issue even when it has no articles.
	Force bool
}

// payload is what an issue freezes in the store.
type payload struct {
	Digest *digest.Digest `json:"digest"`
	// Rendered holds every topic set's rendering, by variants key.
	Rendered map[string][]byte `json:"rendered"`
}

// ErrNoSecret is returned for a real send without a token key.
var ErrNoSecret = errors.New("delivery: no token key: set the environment variable named by server.secret_env")

// Send runs one issue of an edition: resume the unfinished one, or build,
// freeze and send a new one.
func (s *Sender) Send(ctx context.Context, so SendOptions) (Summary, error) {
	start := time.Now()
	cfg := s.o.Config
	ed, ok := cfg.Edition(so.Edition)
	if !ok {
		return Summary{}, fmt.Errorf("delivery: unknown edition %q", so.Edition)
	}
	sum := Summary{Edition: ed.Name, DryRun: so.DryRun}
	defer func() { sum.Seconds = time.Since(start).Seconds() }()

	var (
		issue  store.Issue
		d      *digest.Digest
		frozen map[string][]byte
	)
	if s.o.Store != nil {
		open, found, err := s.o.Store.OpenIssue(ctx, ed.Name)
		if err != nil {
			return sum, err
		}
		if found {
			var p payload
			if err := json.Unmarshal(open.Payload, &p); err != nil || p.Digest == nil {
				return sum, fmt.Errorf("delivery: issue %d: frozen digest unreadable: %v", open.ID, err)
			}
			issue, d, frozen, sum.Resumed = open, p.Digest, p.Rendered, true
			s.log.Info("resuming unfinished issue", "issue", issue.ID, "edition", ed.Name)
		}
	}
	if d == nil {
		now := s.o.Now().UTC().Truncate(time.Second)
		from := now.Add(-cfg.Newsletter.Window)
		if s.o.Store != nil {
			last, found, err := s.o.Store.LastIssue(ctx, ed.Name)
			if err != nil {
				return sum, err
			}
			if found {
				from = last.WindowTo
			}
		}
		var seen func(string) bool
		if s.o.Store != nil {
			seen = s.seenFunc(ctx)
		}
		var err error
		// Feeds often publish an item hours after its date: look back a
		// little before the window for late arrivals. Articles an earlier
		// issue sent are recorded as seen and never repeated.
		lookFrom := from
		if seen != nil {
			lookFrom = from.Add(-cfg.Newsletter.LateArrival)
		}
		d, err = s.o.Build(ctx, lookFrom, now, seen)
		if err != nil {
			return sum, err
		}
		d.Edition = ed.Name
		sum.Articles = d.Count()
		sum.Digest = d
		if d.Count() == 0 && ed.SkipEmpty() && !so.Force {
			sum.Empty = true
			s.log.Info("nothing new: no issue sent", "edition", ed.Name, "from", from, "to", now)
			return sum, nil
		}
		issue = store.Issue{Edition: ed.Name, Slot: so.Slot, WindowFrom: from, WindowTo: now, Status: "sending", Created: now, Articles: d.Count()}
		if !so.DryRun && s.o.Store != nil {
			if !s.canSign() {
				return sum, ErrNoSecret
			}
			v := newVariants(s.o.Renderer, d)
			if err := s.prerender(ctx, v, ed.Name); err != nil {
				return sum, err
			}
			if frozen, err = v.freeze(); err != nil {
				return sum, err
			}
			issue.Payload, err = json.Marshal(payload{Digest: d, Rendered: frozen})
			if err != nil {
				return sum, fmt.Errorf("delivery: freeze: %w", err)
			}
			issue, err = s.o.Store.CreateIssue(ctx, issue, cfg.Editions[0].Name)
			if err != nil {
				return sum, err
			}
			if err := s.o.Store.MarkSeen(ctx, articleIDs(d), issue.ID, now); err != nil {
				return sum, err
			}
			s.log.Info("issue frozen", "issue", issue.ID, "edition", ed.Name, "articles", d.Count())
		}
	}
	sum.Issue, sum.Articles, sum.Digest = issue.ID, d.Count(), d

	if so.DryRun || s.o.Store == nil {
		err := s.dryRun(ctx, issue, d, so, &sum)
		return sum, err
	}
	if !s.canSign() {
		return sum, ErrNoSecret
	}
	if err := s.deliver(ctx, issue, d, frozen, &sum); err != nil {
		return sum, err
	}
	counts, err := s.o.Store.IssueCounts(ctx, issue.ID)
	if err != nil {
		return sum, err
	}
	sum.Recipients = counts.Recipients
	if counts.Pending == 0 && counts.FailedTemp == 0 {
		if err := s.o.Store.FinishIssue(ctx, issue.ID, s.o.Now()); err != nil {
			return sum, err
		}
		s.log.Info("issue finished", "issue", issue.ID, "sent", counts.Sent, "failed_permanent", counts.FailedPerm, "skipped", counts.Skipped)
	} else {
		s.log.Warn("issue left unfinished: run digest send again to retry", "issue", issue.ID, "pending", counts.Pending+counts.FailedTemp)
	}
	return sum, ctx.Err()
}

// prerender renders every distinct topic set among the edition's
// subscribers before the issue is frozen.
func (s *Sender) prerender(ctx context.Context, v *variants, edition string) error {
	if _, err := v.get(nil); err != nil {
		return err
	}
	keys := map[string]bool{"": true}
	return s.o.Store.EachSubscriber(ctx, s.editionFilter(edition), func(sub store.Subscriber) error {
		if k, _ := v.key(sub.Topics); !keys[k] {
			keys[k] = true
			_, err := v.get(sub.Topics)
			return err
		}
		return nil
	})
}

// editionFilter selects the confirmed subscribers of an edition, those
// with no edition counting as members of the first (default) one: the same
// rule the store applies when it creates an issue's ledger.
func (s *Sender) editionFilter(edition string) store.Filter {
	return store.Filter{Status: store.StatusConfirmed, Edition: edition, DefaultEdition: s.o.Config.Editions[0].Name}
}

func (s *Sender) seenFunc(ctx context.Context) func(string) bool {
	// Build asks article by article; answer from one query per build
	// would need the ids up front, so cache per id instead.
	cache := map[string]bool{}
	return func(id string) bool {
		if v, ok := cache[id]; ok {
			return v
		}
		m, err := s.o.Store.SeenArticles(ctx, []string{id})
		if err != nil {
			s.log.Warn("seen articles lookup failed", "error", err)
			return false
		}
		cache[id] = m[id]
		return m[id]
	}
}

func articleIDs(d *digest.Digest) []string {
	var ids []string
	for _, t := range d.Topics {
		for _, a := range t.Articles {
			ids = append(ids, digest.SeenKeys(a)...)
		}
	}
	return ids
}

// canSign reports whether real links can be made.
func (s *Sender) canSign() bool { return s.o.Links != nil && s.o.Links.Signer() != nil }

// recipient is one message to build.
type recipient struct {
	deliveryID   int64
	subscriberID int64
	stamp        int64
	email, name  string
	topics       []string
}

func (rc recipient) subject() links.Subject {
	return links.Subject{ID: rc.subscriberID, Stamp: rc.stamp}
}

// variants renders each distinct topic set once per issue, and lays out
// each rendering's message once.
type variants struct {
	r       Renderer
	d       *digest.Digest
	mu      sync.Mutex
	cache   map[string]*render.Rendered
	layouts map[string]*mailer.Layout
	names   map[string]bool
}

func newVariants(r Renderer, d *digest.Digest) *variants {
	names := map[string]bool{}
	for _, t := range d.Topics {
		names[t.Name] = true
	}
	return &variants{r: r, d: d, cache: map[string]*render.Rendered{}, layouts: map[string]*mailer.Layout{}, names: names}
}

// key maps a subscriber's topics to the topic set rendered for them.
// Topics the issue does not have are ignored; a subscriber with none of
// this issue's topics (or none chosen) gets the whole digest, since an
// empty email helps nobody.
func (v *variants) key(topics []string) (string, []string) {
	var keep []string
	for _, t := range topics {
		if v.names[t] {
			keep = append(keep, t)
		}
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	if len(keep) == len(v.names) {
		keep = nil
	}
	return strings.Join(keep, "\x00"), keep
}

// get returns the rendering for a subscriber's topics, rendering each
// distinct set once per issue.
func (v *variants) get(topics []string) (*render.Rendered, error) {
	key, keep := v.key(topics)
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.cache[key]; ok {
		return r, nil
	}
	r, err := v.r.Render(v.d, keep)
	if err != nil {
		return nil, err
	}
	v.cache[key] = r
	return r, nil
}

// layout returns the rendering for a subscriber's topics and its message
// layout, made by mk once per distinct set.
func (v *variants) layout(topics []string, mk func(*render.Rendered) (*mailer.Layout, error)) (*render.Rendered, *mailer.Layout, error) {
	rd, err := v.get(topics)
	if err != nil {
		return nil, nil, err
	}
	key, _ := v.key(topics)
	v.mu.Lock()
	defer v.mu.Unlock()
	if l, ok := v.layouts[key]; ok {
		return rd, l, nil
	}
	l, err := mk(rd)
	if err != nil {
		return nil, nil, err
	}
	v.layouts[key] = l
	return rd, l, nil
}

// freeze encodes every rendering made so far, for the issue's payload.
func (v *variants) freeze() (map[string][]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string][]byte, len(v.cache))
	for k, r := range v.cache {
		b, err := r.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("delivery: freeze: %w", err)
		}
		out[k] = b
	}
	return out, nil
}

// thaw loads the renderings frozen with the issue, so a resumed send is
// byte-for-byte what the first recipients got, even after a template edit.
func (v *variants) thaw(frozen map[string][]byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, b := range frozen {
		r := new(render.Rendered)
		if err := r.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("delivery: frozen rendering: %w", err)
		}
		v.cache[k] = r
	}
	return nil
}

// message builds one recipient's email: its values in the layout of the
// rendering for its topics.
func (s *Sender) message(issue store.Issue, v *variants, rc recipient) (*mailer.Copy, error) {
	rd, layout, err := v.layout(rc.topics, func(rd *render.Rendered) (*mailer.Layout, error) { return s.layout(issue, rd) })
	if err != nil {
		return nil, err
	}
	unsub, prefs := s.links(issue, rc.subject())
	html, text := rd.Values(render.Recipient{Name: rc.name, Email: rc.email, UnsubscribeURL: unsub, PreferencesURL: prefs})
	m := &mailer.Copy{
		Layout:         layout,
		To:             (&mail.Address{Name: rc.name, Address: rc.email}).String(),
		MessageID:      MessageID(issue.ID, rc.subscriberID, s.o.Config.Newsletter.From),
		UnsubscribeURL: unsub,
		HTML:           html,
		Text:           text,
	}
	if s.o.UnsubscribeMailto != nil {
		m.UnsubscribeMailto = s.o.UnsubscribeMailto(rc.subject())
	}
	if s.o.BounceAddress != nil {
		m.EnvelopeFrom = s.o.BounceAddress(rc.subject(), issue.ID)
	}
	return m, nil
}

// layout lays out one rendering of the issue: what all its recipients'
// messages share, encoded once.
func (s *Sender) layout(issue store.Issue, rd *render.Rendered) (*mailer.Layout, error) {
	cfg := s.o.Config
	html, text := rd.Parts()
	l, err := mailer.NewLayout(mailer.Template{
		From:    cfg.Newsletter.From,
		ReplyTo: cfg.Newsletter.ReplyTo,
		Subject: rd.Subject,
		Date:    issue.Created,
		ListID:  ListID(cfg),
		Headers: map[string]string{"X-Digest-Issue": fmt.Sprint(issue.ID)},
		HTML:    segments(html),
		Text:    segments(text),
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	return l, nil
}

func segments(in []render.Segment) []mailer.Segment {
	out := make([]mailer.Segment, len(in))
	for i, s := range in {
		out[i] = mailer.Segment(s)
	}
	return out
}

// links are the unsubscribe and preferences URLs of one subscriber. Tokens
// are issued at the issue's creation time, so a resumed send builds the
// very same message and the links live as long as the issue is young.
func (s *Sender) links(issue store.Issue, who links.Subject) (unsub, prefs string) {
	issued := issue.Created
	if issued.IsZero() {
		issued = s.o.Now()
	}
	return s.o.Links.UnsubscribeURL(who, issued), s.o.Links.PreferencesURL(who, issued)
}

// MessageID is deterministic per issue and subscriber, so a message sent
// twice after a crash carries the same ID and clients can fold the copies.
func MessageID(issueID, subscriberID int64, from string) string {
	domain := "digest.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			domain = strings.ToLower(a.Address[at+1:])
		}
	}
	return fmt.Sprintf("issue-%d.sub-%d@%s", issueID, subscriberID, domain)
}

// ListID is the RFC 2919 List-Id: "Title <list-id>".
func ListID(cfg *config.Config) string {
	id := cfg.Newsletter.ListID
	if id == "" {
		domain := "digest.invalid"
		if a, err := mail.ParseAddress(cfg.Newsletter.From); err == nil {
			if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
				domain = strings.ToLower(a.Address[at+1:])
			}
		}
		id = slug(cfg.Newsletter.Title) + "." + domain
	}
	return fmt.Sprintf("%s <%s>", strings.ReplaceAll(cfg.Newsletter.Title, "\"", ""), id)
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "digest"
	}
	return out
}

// dryRun streams every confirmed subscriber of the edition through
// rendering and message building, and writes nothing but --out files.
func (s *Sender) dryRun(ctx context.Context, issue store.Issue, d *digest.Digest, so SendOptions, sum *Summary) error {
	if issue.Created.IsZero() {
		issue.Created = s.o.Now().UTC().Truncate(time.Second)
	}
	v := newVariants(s.o.Renderer, d)
	if so.OutDir != "" {
		if err := os.MkdirAll(so.OutDir, 0o755); err != nil {
			return fmt.Errorf("delivery: --out: %w", err)
		}
	}
	emit := func(rc recipient) error {
		m, err := s.message(issue, v, rc)
		if err != nil {
			return err
		}
		raw, err := s.o.Mailer.Build(m)
		if err != nil {
			return fmt.Errorf("delivery: build message for %s: %w", rc.email, err)
		}
		sum.Recipients++
		sum.Sent++
		if so.OutDir != "" {
			name := fmt.Sprintf("%06d-%s.eml", rc.subscriberID, safeFile(rc.email))
			if err := os.WriteFile(filepath.Join(so.OutDir, name), raw, 0o644); err != nil {
				return fmt.Errorf("delivery: --out: %w", err)
			}
		}
		return nil
	}
	if s.o.Store != nil {
		err := s.o.Store.EachSubscriber(ctx, s.editionFilter(sum.Edition), func(sub store.Subscriber) error {
			return emit(recipient{subscriberID: sub.ID, stamp: sub.Stamp, email: sub.Email, name: sub.Name, topics: sub.Topics})
		})
		if err != nil {
			return err
		}
	}
	if sum.Recipients == 0 {
		// No list yet: render for one sample recipient so the operator
		// sees what would go out.
		if err := emit(recipient{subscriberID: 0, email: "reader@example.org", name: "Sample Reader"}); err != nil {
			return err
		}
		sum.Recipients, sum.Sent = 0, 0
	}
	if so.OutDir != "" {
		rd, err := v.get(nil)
		if err != nil {
			return err
		}
		unsub, prefs := s.links(issue, links.Subject{})
		html, _ := rd.Personalize(render.Recipient{Name: "Sample Reader", Email: "reader@example.org", UnsubscribeURL: unsub, PreferencesURL: prefs})
		if err := os.WriteFile(filepath.Join(so.OutDir, "preview.html"), html, 0o644); err != nil {
			return fmt.Errorf("delivery: --out: %w", err)
		}
	}
	return nil
}

func safeFile(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@' {
			return r
		}
		return '_'
	}, s)
}
