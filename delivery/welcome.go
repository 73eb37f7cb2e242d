package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"time"

	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
)

// IssueStore finds the issue a welcome mail carries; *store.DB satisfies it.
type IssueStore interface {
	LastIssue(ctx context.Context, edition string) (store.Issue, bool, error)
}

// WelcomeOptions wires a Welcomer. Editions (the first is the default),
// Store, Renderer and signed Links are required.
type WelcomeOptions struct {
	Editions   []Edition
	Newsletter Newsletter
	// Archive: issues have public pages (List-Archive, View in browser).
	Archive  bool
	Store    IssueStore
	Renderer Renderer
	Links    *links.Builder
	Now      func() time.Time
}

// Welcomer builds the welcome mail of a newly confirmed subscriber (server.
// welcome = "latest"): the latest issue of their edition as the issue's
// readers got it, from the renderings frozen with the issue, for the new
// reader's topics and with their own links. A topic set the issue never
// rendered is rendered from the issue's frozen digest.
type Welcomer struct {
	o WelcomeOptions
}

// NewWelcomer checks o.
func NewWelcomer(o WelcomeOptions) (*Welcomer, error) {
	if len(o.Editions) == 0 || o.Store == nil || o.Renderer == nil || o.Links == nil || o.Links.Signer() == nil {
		return nil, errors.New("delivery: welcome: editions, store, renderer and signed links are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Welcomer{o: o}, nil
}

// Welcome returns the message for sub, ok=false when the edition has no
// issue yet.
func (w *Welcomer) Welcome(ctx context.Context, sub store.Subscriber) (*mailer.Message, bool, error) {
	nl := w.o.Newsletter
	edition := w.o.Editions[0].Name
	for _, e := range w.o.Editions {
		if e.Name == sub.Edition {
			edition = e.Name
		}
	}
	issue, found, err := w.o.Store.LastIssue(ctx, edition)
	if err != nil || !found {
		return nil, false, err
	}
	p, err := decodePayload(issue.Payload)
	if err != nil {
		return nil, false, fmt.Errorf("delivery: welcome: issue %d: %w", issue.ID, err)
	}
	v := newVariants(w.o.Renderer, p.Digest)
	v.issueURL = issueURL(w.o.Archive, w.o.Links, issue.ID)
	if err := v.thaw(p.Rendered); err != nil {
		return nil, false, err
	}
	rd, err := v.get(sub.Topics)
	if err != nil {
		return nil, false, fmt.Errorf("delivery: welcome: %w", err)
	}
	now := w.o.Now()
	who := links.Subject{ID: sub.ID, Stamp: sub.Stamp}
	unsub, prefs := w.o.Links.UnsubscribeURL(who, now), w.o.Links.PreferencesURL(who, now)
	html, text := rd.Personalize(render.Recipient{Name: sub.Name, Email: sub.Email, UnsubscribeURL: unsub, PreferencesURL: prefs})
	return &mailer.Message{
		From:    nl.From,
		To:      (&mail.Address{Name: sub.Name, Address: sub.Email}).String(),
		ReplyTo: nl.ReplyTo,
		Subject: "Welcome! " + rd.Subject,
		// Dated now: it is a new message, not a copy of the old issue's.
		Date: now,
		// One welcome per subscriber and issue: a retry keeps the ID.
		MessageID:      fmt.Sprintf("welcome-%d.%s", sub.ID, MessageID(issue.ID, sub.ID, nl.From)),
		HTML:           html,
		Text:           text,
		ListID:         nl.ListID,
		UnsubscribeURL: unsub,
		Headers:        withListArchive(w.o.Archive, w.o.Links, map[string]string{"X-Digest-Issue": fmt.Sprint(issue.ID), "X-Digest-Welcome": "1"}),
	}, true, nil
}
