package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/store"
)

// frozen is an issue with what was frozen with it.
type frozen struct {
	store.Issue
	digest   *digest.Digest
	rendered map[string][]byte // by variants key
}

// payload is what an issue freezes in the store, as gzip-compressed JSON
// (encodePayload, decodePayload).
type payload struct {
	Digest *digest.Digest `json:"digest"`
	// Rendered holds every topic set's rendering, by variants key.
	Rendered map[string][]byte `json:"rendered"`
}

// SourcesError is a build in which every configured source failed: silence
// is never success, so no issue is made and the send fails naming them.
type SourcesError struct {
	Errors []digest.SourceError
}

func (e *SourcesError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, se := range e.Errors {
		parts[i] = fmt.Sprintf("%q: %s", se.Source, se.Error)
	}
	return "delivery: every source failed, nothing to send: " + strings.Join(parts, "; ")
}

// issue finds the issue this send is about: the edition's unfinished one,
// else a new one built and frozen now. nil with no error means there is
// nothing to send (nothing new, or another sender sent this window).
func (s *Sender) issue(ctx context.Context, ed Edition, so SendOptions, sum *Summary) (*frozen, error) {
	if s.o.Store != nil {
		open, found, err := s.o.Store.OpenIssue(ctx, ed.Name)
		if err != nil {
			return nil, err
		}
		if found {
			s.log.Info("resuming the unfinished issue (left by an earlier run, or another sender is on it: joining)", "issue", open.ID, "edition", ed.Name)
			return join(open, sum)
		}
	}
	now := s.o.Now().UTC().Truncate(time.Second)
	from := now.Add(-s.o.Window)
	if s.o.Store != nil {
		last, found, err := s.o.Store.LastIssue(ctx, ed.Name)
		if err != nil {
			return nil, err
		}
		if found {
			from = last.WindowTo
		}
	}
	d, err := s.build(ctx, ed.Name, from, now)
	if err != nil {
		return nil, err
	}
	d.Edition = ed.Name
	sum.Articles, sum.Digest, sum.Errors = d.Count(), d, d.Errors
	if err := s.allSourcesFailed(d); err != nil {
		return nil, err
	}
	if d.Count() == 0 && ed.SkipEmpty && !so.Force {
		if is, found, err := s.frozenMeanwhile(ctx, ed, so, sum); err != nil || found {
			return is, err
		}
		sum.Empty, sum.State = true, StateEmpty
		s.log.Info("nothing new: no issue sent", "edition", ed.Name, "from", from, "to", now)
		return nil, nil
	}
	is := &frozen{digest: d, Issue: store.Issue{Edition: ed.Name, Slot: so.Slot, WindowFrom: from, WindowTo: now,
		Status: store.IssueSending, Created: now, Articles: d.Count()}}
	if so.DryRun || s.o.Store == nil {
		return is, nil
	}
	return s.create(ctx, is, sum)
}

// create freezes a new issue in the store, or joins the one another
// sender froze for this window meanwhile.
func (s *Sender) create(ctx context.Context, is *frozen, sum *Summary) (*frozen, error) {
	if !s.canSign() {
		return nil, ErrNoSecret
	}
	if err := s.freeze(ctx, is); err != nil {
		return nil, err
	}
	if s.o.Settle != nil {
		s.o.Settle()
	}
	created, err := s.o.Store.CreateIssue(ctx, is.Issue, s.o.Editions[0].Name)
	var conflict *store.IssueConflict
	if errors.As(err, &conflict) {
		// Another sender froze this window's issue while we collected:
		// theirs goes out, ours is dropped.
		existing, err := s.o.Store.IssueByID(ctx, conflict.ID)
		if err != nil {
			return nil, err
		}
		if conflict.Open {
			s.log.Info("another sender started this issue meanwhile: joining it", "issue", existing.ID, "edition", is.Edition)
			return join(existing, sum)
		}
		s.log.Info("another sender sent this window's issue meanwhile: nothing to do", "issue", existing.ID, "edition", is.Edition)
		sum.Issue, sum.SentByOther, sum.State, sum.Articles, sum.Digest = existing.ID, true, StateDone, existing.Articles, nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	is.Issue = created
	sum.Issue = created.ID
	s.log.Info("issue frozen", "issue", created.ID, "edition", is.Edition, "articles", is.digest.Count())
	return is, nil
}

// frozenMeanwhile looks again for an open issue when the build came out
// empty: another sender started together with this one may have frozen the
// window's issue after the look at the top of issue, and its articles are
// recorded as sent by now. That issue is this send's to share, not
// "nothing new".
func (s *Sender) frozenMeanwhile(ctx context.Context, ed Edition, so SendOptions, sum *Summary) (*frozen, bool, error) {
	if so.DryRun || s.o.Store == nil {
		return nil, false, nil
	}
	open, found, err := s.o.Store.OpenIssue(ctx, ed.Name)
	if err != nil || !found {
		return nil, false, err
	}
	s.log.Info("another sender froze this window's issue meanwhile: joining it", "issue", open.ID, "edition", ed.Name)
	is, err := join(open, sum)
	return is, true, err
}

// join takes up an issue frozen earlier, by this or another sender.
func join(is store.Issue, sum *Summary) (*frozen, error) {
	p, err := decodePayload(is.Payload)
	if err != nil {
		return nil, fmt.Errorf("delivery: issue %d: %w", is.ID, err)
	}
	sum.Issue, sum.Resumed, sum.Articles, sum.Digest = is.ID, true, p.Digest.Count(), p.Digest
	return &frozen{Issue: is, digest: p.Digest, rendered: p.Rendered}, nil
}

// build collects the window's articles that the edition has not sent.
// Feeds publish items hours after their date, so it looks back LateArrival
// before the window too; the seen keys decide what is new.
func (s *Sender) build(ctx context.Context, edition string, from, now time.Time) (*digest.Digest, error) {
	if s.o.Store == nil {
		return s.o.Build(ctx, from, now, nil)
	}
	lookFrom := from.Add(-s.o.LateArrival)
	// One query: an issue records its articles after they were published,
	// so the keys recorded since lookFrom cover every article in the window
	// that was sent before.
	seen, err := s.o.Store.SeenSince(ctx, edition, lookFrom)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	d, err := s.o.Build(ctx, lookFrom, now, func(key string) bool { return seen[key] })
	if err != nil {
		return nil, err
	}
	// An article sent long ago whose date moved into the window since (an
	// edited file, a feed that re-dates its items) is not among those keys:
	// ask once for the digest's own articles.
	var keys []string
	for _, t := range d.Topics {
		for _, a := range t.Articles {
			keys = append(keys, ownKeys(a)...)
		}
	}
	old, err := s.o.Store.SeenArticles(ctx, edition, keys)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	if n := dropArticles(d, func(a digest.Article) bool {
		for _, k := range ownKeys(a) {
			if old[k] {
				return true
			}
		}
		return false
	}); n > 0 {
		s.log.Info("left out articles an earlier issue sent under an older date", "edition", edition, "articles", n)
	}
	return d, nil
}

// ownKeys are the keys under which an article itself (not the other
// reports merged into it) is recorded as sent.
func ownKeys(a digest.Article) []string {
	return digest.SeenKeys(digest.Article{ID: a.ID, URL: a.URL})
}

// dropArticles removes the articles drop picks from d's topics and top
// stories, and the topics left empty; it returns how many it removed.
func dropArticles(d *digest.Digest, drop func(digest.Article) bool) int {
	n := 0
	topics := d.Topics[:0]
	for _, t := range d.Topics {
		kept := t.Articles[:0]
		for _, a := range t.Articles {
			if drop(a) {
				n++
				continue
			}
			kept = append(kept, a)
		}
		t.Articles = kept
		if len(kept) > 0 {
			topics = append(topics, t)
		}
	}
	d.Topics = topics
	if n > 0 {
		top := d.Top[:0]
		for _, a := range d.Top {
			if !drop(a) {
				top = append(top, a)
			}
		}
		d.Top = top
	}
	return n
}

// allSourcesFailed is the SourcesError for a build where no configured
// source answered; nil when one did.
func (s *Sender) allSourcesFailed(d *digest.Digest) error {
	if len(s.o.Sources) == 0 || len(d.Errors) == 0 {
		return nil
	}
	failed := make(map[string]bool, len(d.Errors))
	for _, e := range d.Errors {
		failed[e.Source] = true
	}
	for _, name := range s.o.Sources {
		if !failed[name] {
			return nil
		}
	}
	return &SourcesError{Errors: d.Errors}
}

// freeze renders every distinct topic set among the edition's subscribers
// and stores the digest and the renderings in the issue's payload, with the
// articles' keys to record as seen.
func (s *Sender) freeze(ctx context.Context, is *frozen) error {
	v := newVariants(s.o.Renderer, is.digest)
	if _, err := v.get(nil); err != nil {
		return err
	}
	keys := map[string]bool{"": true}
	err := s.o.Store.EachTopicSet(ctx, s.members(is.Edition), func(topics []string) error {
		if k, _ := v.key(topics); !keys[k] {
			keys[k] = true
			_, err := v.get(topics)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if is.rendered, err = v.freeze(); err != nil {
		return err
	}
	if is.Payload, err = encodePayload(payload{Digest: is.digest, Rendered: is.rendered}); err != nil {
		return err
	}
	for _, t := range is.digest.Topics {
		for _, a := range t.Articles {
			is.SeenKeys = append(is.SeenKeys, digest.SeenKeys(a)...)
		}
	}
	return nil
}

// members selects the confirmed subscribers of an edition, those with no
// edition counting as members of the first (default) one: the same rule the
// store applies when it creates an issue's ledger.
func (s *Sender) members(edition string) store.Filter {
	return store.Filter{Status: store.StatusConfirmed, Edition: edition, DefaultEdition: s.o.Editions[0].Name}
}
