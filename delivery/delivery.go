// Package delivery sends one issue of the newsletter to every subscriber of
// its edition, each once, whatever the number of senders, the crashes and
// the server's answers. The rules it keeps:
//
//   - An issue is frozen in the store before the first message leaves: its
//     digest and renderings, one pending ledger row per subscriber, and its
//     articles as seen by its edition, in one transaction. An edition has at
//     most one unfinished issue: a send that finds one joins it, and a send
//     that finds another sender froze one meanwhile joins that.
//   - Any number of senders (digest send, digest run, on one machine or
//     several) share an issue by claiming batches of ledger rows in a short
//     transaction committed before any SMTP. A claim is renewed while its
//     holder works and expires when the holder dies; a sender stops sending
//     before its claims could expire. A sender that finds nothing to claim
//     waits for the rows others hold, so a send that returns has seen the
//     issue through or says what is left.
//   - At most MaxInFlight = Concurrency + MarkBatch messages of a sender are
//     ever "handed to SMTP but not yet marked": a slot is taken before a
//     message goes to the mailer and given back only when its mark is
//     committed. Marks are committed in groups of up to MarkBatch while the
//     next Concurrency messages are being sent, so SMTP never waits for the
//     ledger. That is the most a kill, or a ledger that stops taking
//     writes, can make go twice.
//   - A row is marked sent only after a 2xx. An unknown outcome (the
//     connection lost or timed out after the end of DATA) leaves the row to
//     be sent again with the same Message-ID (RFC 1047: a copy is better
//     than a loss); those are the only other duplicates there can be.
//   - A permanent refusal counts toward a bounce only when its reply blames
//     the address (mailer.AgainstRecipient). Breaker recipients in a row
//     failing the same way mean the relay is at fault: the issue pauses,
//     the rest stay pending, nobody is bounced (PausedError). When fewer
//     were left, the relay is probed with an address the issue reached
//     (mailer.Probe) before any refusal is taken as final.
//   - No message leaves without a ledger that can record it: when a claim
//     or a mark cannot be written, sending stops.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
)

// Store is what delivery needs from persistence; *store.DB satisfies it.
type Store interface {
	Issues
	Ledger
	EachSubscriber(ctx context.Context, f store.Filter, fn func(store.Subscriber) error) error
	EachTopicSet(ctx context.Context, f store.Filter, fn func(topics []string) error) error
	RecordBounce(ctx context.Context, subscriberID int64, hard bool, reason string, hardLimit, softLimit int, at time.Time) (bool, error)
	SeenSince(ctx context.Context, edition string, since time.Time) (map[string]bool, error)
	SeenArticles(ctx context.Context, edition string, keys []string) (map[string]bool, error)
	SentTo(ctx context.Context, issueID int64) (string, bool, error)
}

// Issues finds, freezes and finishes issues.
type Issues interface {
	OpenIssue(ctx context.Context, edition string) (store.Issue, bool, error)
	LastIssue(ctx context.Context, edition string) (store.Issue, bool, error)
	IssueByID(ctx context.Context, id int64) (store.Issue, error)
	CreateIssue(ctx context.Context, is store.Issue, defaultEdition string) (store.Issue, error)
	FinishIssue(ctx context.Context, id int64, at time.Time) error
	IssueCounts(ctx context.Context, issueID int64) (store.IssueSummary, error)
}

// Ledger is the per-recipient record senders share by claims.
type Ledger interface {
	ClaimDeliveries(ctx context.Context, issueID int64, holder string, limit int, now, until time.Time) ([]store.Delivery, error)
	RenewClaims(ctx context.Context, issueID int64, holder string, until time.Time) (int64, error)
	ReleaseClaims(ctx context.Context, issueID int64, holder string) error
	OtherClaims(ctx context.Context, issueID int64, holder string, now time.Time) (int, time.Time, error)
	MarkDeliveries(ctx context.Context, marks []store.Mark) error
}

// Mailer delivers messages over SMTP; *mailer.Mailer satisfies it.
type Mailer interface {
	Deliver(ctx context.Context, jobs <-chan mailer.Job) <-chan mailer.Result
	Build(msg mailer.Mail) ([]byte, error)
	// Probe asks whether the server takes mail to an address now, without
	// sending any.
	Probe(ctx context.Context, from, to string) error
}

// Renderer renders a digest once per topic set; *render.Renderer satisfies it.
type Renderer interface {
	Render(d *digest.Digest, topics []string) (*render.Rendered, error)
}

// BuildFunc collects and groups the articles of a window. seen reports
// article keys (digest.SeenKeys) an earlier issue of the edition sent; nil
// when nothing is known.
type BuildFunc func(ctx context.Context, from, to time.Time, seen func(key string) bool) (*digest.Digest, error)

// Edition is one schedule subscribers choose.
type Edition struct {
	Name string
	// SkipEmpty: no issue when nothing is new.
	SkipEmpty bool
}

// Newsletter is what every message says about its sender.
type Newsletter struct {
	From, ReplyTo string
	BaseURL       string // links point here
	ListID        string // the whole List-Id value (see ListID)
}

// Defaults for the zero values of Options.
const (
	DefaultMarkBatch       = 16
	DefaultMarkInterval    = 20 * time.Millisecond
	DefaultClaimBatch      = 128
	DefaultClaimTTL        = 30 * time.Second
	DefaultBreaker         = 20
	DefaultBounceAfter     = 1
	DefaultSoftBounceAfter = 5
)

// Options wires a Sender.
type Options struct {
	// Editions are the schedules; the first is the default one, which
	// subscribers who chose none belong to. Required.
	Editions []Edition
	// Sources names every configured source: a build in which all of them
	// failed is an error, never an empty issue.
	Sources    []string
	Newsletter Newsletter
	// Window is how far back an edition's first issue looks; LateArrival
	// how far before the last issue's end later ones look for items
	// published late (those already sent never repeat).
	Window, LateArrival time.Duration

	// Concurrency is the mailer's connections: the most messages on the
	// wire at once (MaxInFlight counts the unmarked ones too).
	Concurrency int
	// MarkBatch is the most ledger marks committed in one transaction;
	// with Concurrency it bounds the messages sent but not yet marked
	// (MaxInFlight).
	MarkBatch int
	// MarkInterval is how long a group of marks waits for more results
	// before it commits, as long as no sender waits for a slot.
	MarkInterval time.Duration
	// ClaimBatch is how many ledger rows one claim takes; ClaimTTL how long
	// a claim lives without renewal (a dead sender's rows wait this long).
	ClaimBatch int
	ClaimTTL   time.Duration
	// Breaker is how many recipients in a row failing the same way pause
	// the issue.
	Breaker int
	// BounceAfter and SoftBounceAfter are the hard and soft bounces after
	// which an address is marked bounced.
	BounceAfter, SoftBounceAfter int

	Store    Store // nil only for a dry run without a store
	Mailer   Mailer
	Renderer Renderer
	// Links builds the unsubscribe, preferences and archive URLs; without
	// a signer (no secret) only a dry run works.
	Links *links.Builder
	// Archive: the issue has a public page (List-Archive, View in browser).
	Archive bool
	Build   BuildFunc
	Logger  *slog.Logger
	// Now is the newsletter's clock (windows, dates); claims use the wall
	// clock, since other processes compare against it.
	Now func() time.Time
	// Progress, when set, is called after every group of marks with the
	// running summary.
	Progress func(Summary)
	// BounceAddress builds the VERP return path of a message; nil: From.
	BounceAddress func(who links.Subject, issueID int64) string
	// UnsubscribeMailto builds the List-Unsubscribe mailto; nil: none.
	UnsubscribeMailto func(who links.Subject) string
	// Holder names this process in claims (host:pid by default); each send
	// adds a random part.
	Holder string
	// Settle, when set, is called once an issue is built and frozen and
	// before the store takes it: building leaves the heap at its largest
	// and mostly garbage, and the store (SQLite) is about to take a few
	// MB of memory outside Go's accounting. The binary hands the garbage
	// back to the system there (debug.FreeOSMemory).
	Settle func()
}

// Sender sends issues.
type Sender struct {
	o   Options
	log *slog.Logger
	// fromDomain is the right side of every Message-ID, parsed once.
	fromDomain string
}

// New returns a Sender, filling in the defaults.
func New(o Options) *Sender {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Editions) == 0 {
		o.Editions = []Edition{{Name: "default", SkipEmpty: true}}
	}
	o.Concurrency = max(o.Concurrency, 1)
	setDefault(&o.MarkBatch, DefaultMarkBatch)
	setDefault(&o.ClaimBatch, DefaultClaimBatch)
	setDefault(&o.Breaker, DefaultBreaker)
	setDefault(&o.BounceAfter, DefaultBounceAfter)
	setDefault(&o.SoftBounceAfter, DefaultSoftBounceAfter)
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = DefaultClaimTTL
	}
	if o.MarkInterval <= 0 {
		o.MarkInterval = DefaultMarkInterval
	}
	// A group must commit long before the claims it marks could lapse.
	o.MarkInterval = min(o.MarkInterval, o.ClaimTTL/8)
	if o.Holder == "" {
		host, _ := os.Hostname()
		o.Holder = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	return &Sender{o: o, log: o.Logger, fromDomain: fromDomain(o.Newsletter.From)}
}

// MaxInFlight is the most messages one sender has handed to SMTP but not
// yet marked sent: the most a kill, a lost ledger or a lost claim can make
// go twice. concurrency messages are on the wire while up to markBatch
// wait in a group commit.
func MaxInFlight(concurrency, markBatch int) int {
	return max(concurrency, 1) + max(markBatch, 1)
}

func setDefault(p *int, v int) {
	if *p <= 0 {
		*p = v
	}
}

// States of a send, in Summary.State.
const (
	StateDone    = "done"    // the issue is finished: everyone got it or failed for good
	StatePending = "pending" // rows are left for the next run (temporary failures, a stop)
	StatePaused  = "paused"  // the breaker paused the issue; see Paused
	StateEmpty   = "empty"   // nothing new: no issue
	StateDryRun  = "dry_run"
)

// Summary is the outcome of one send, as printed by `digest send --json`.
// The counts are this send's; Recipients and Pending are the issue's.
type Summary struct {
	Issue           int64  `json:"issue"`
	Edition         string `json:"edition"`
	State           string `json:"state"`
	Articles        int    `json:"articles"`
	Recipients      int    `json:"recipients"`
	Sent            int    `json:"sent"`
	FailedTemporary int    `json:"failed_temporary"`
	FailedPermanent int    `json:"failed_permanent"`
	Skipped         int    `json:"skipped"`
	// Pending counts the issue's rows still open when this send ended.
	Pending int `json:"pending"`
	// Resumed: the issue existed before this send (left unfinished, or
	// being sent by another process this one joined).
	Resumed bool `json:"resumed"`
	// SentByOther: another sender made and finished this window's issue
	// while this one was collecting; nothing was left to do.
	SentByOther bool `json:"sent_by_other,omitempty"`
	// Paused is the server reply that tripped the breaker.
	Paused  string  `json:"paused,omitempty"`
	DryRun  bool    `json:"dry_run"`
	Empty   bool    `json:"empty"`
	Seconds float64 `json:"seconds"`
	// Errors are the sources that failed in this send's collection.
	Errors []digest.SourceError `json:"errors,omitempty"`
	// Digest is the issue's content, for printing; not part of the JSON.
	Digest *digest.Digest `json:"-"`
}

// SendOptions are the per-run choices.
type SendOptions struct {
	Edition string // "" = the default edition
	DryRun  bool
	OutDir  string    // with DryRun: write .eml files and preview.html here
	Slot    time.Time // the scheduled slot (daemon); zero for a manual send
	// Force sends an issue even when it has no articles.
	Force bool
}

// ErrNoSecret is returned for a real send without a token key.
var ErrNoSecret = errors.New("delivery: no token key: set the environment variable named by server.secret_env")

// Send runs one issue of an edition: join the unfinished one, or build,
// freeze and send a new one. It returns when this sender has nothing left
// to claim and no other live sender holds rows of the issue.
func (s *Sender) Send(ctx context.Context, so SendOptions) (sum Summary, err error) {
	start := time.Now()
	// Named results: the deferred assignment lands in what the caller gets.
	defer func() { sum.Seconds = time.Since(start).Seconds() }()
	ed, ok := s.edition(so.Edition)
	if !ok {
		return sum, fmt.Errorf("delivery: unknown edition %q", so.Edition)
	}
	sum = Summary{Edition: ed.Name, DryRun: so.DryRun}
	is, err := s.issue(ctx, ed, so, &sum)
	if err != nil || is == nil {
		return sum, err
	}
	if so.DryRun || s.o.Store == nil {
		sum.State = StateDryRun
		return sum, s.dryRun(ctx, is, so, &sum)
	}
	if !s.canSign() {
		return sum, ErrNoSecret
	}
	err = s.deliver(ctx, is, &sum)
	return sum, s.settle(ctx, is.ID, &sum, err)
}

func (s *Sender) edition(name string) (Edition, bool) {
	if name == "" {
		return s.o.Editions[0], true
	}
	for _, e := range s.o.Editions {
		if e.Name == name {
			return e, true
		}
	}
	return Edition{}, false
}

// settle reads the issue's ledger after this sender's pass, finishes the
// issue when nothing is open, and sets the summary's state.
func (s *Sender) settle(ctx context.Context, issueID int64, sum *Summary, err error) error {
	counts, cerr := s.o.Store.IssueCounts(context.WithoutCancel(ctx), issueID)
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	sum.Recipients, sum.Pending = counts.Recipients, counts.Pending+counts.FailedTemp
	var paused *PausedError
	switch {
	case errors.As(err, &paused):
		sum.State, sum.Paused = StatePaused, paused.Reply
	case sum.Pending == 0:
		sum.State = StateDone
		if ferr := s.o.Store.FinishIssue(context.WithoutCancel(ctx), issueID, s.o.Now()); ferr != nil {
			return errors.Join(err, ferr)
		}
		s.log.Info("issue finished", "issue", issueID, "sent", counts.Sent, "failed_permanent", counts.FailedPerm, "skipped", counts.Skipped)
	default:
		sum.State = StatePending
		s.log.Warn("issue left unfinished: run digest send again to send the rest", "issue", issueID, "pending", sum.Pending)
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// canSign reports whether links can carry real tokens (a secret is set).
func (s *Sender) canSign() bool { return s.o.Links != nil && s.o.Links.Signer() != nil }
