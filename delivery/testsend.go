package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
)

// TestStore is what a test send reads, and all it may touch: the window's
// start and the articles already sent. *store.DB satisfies it.
type TestStore interface {
	LastIssue(ctx context.Context, edition string) (store.Issue, bool, error)
	SeenArticles(ctx context.Context, edition string, keys []string) (map[string]bool, error)
}

// OneSender sends one message; *mailer.Mailer satisfies it.
type OneSender interface {
	Send(ctx context.Context, msg *mailer.Message) error
}

// TestSendOptions wires TestSend. Store may be nil (no store yet: the
// window is newsletter.window back from now).
type TestSendOptions struct {
	Editions   []Edition
	Newsletter Newsletter
	// Window and LateArrival: as in Options.
	Window, LateArrival time.Duration
	// Archive: issues have public pages (List-Archive).
	Archive  bool
	Store    TestStore
	Build    BuildFunc
	Renderer Renderer
	// Links should carry no signer: a test message's links must work for
	// nobody (links.Placeholder tokens).
	Links  *links.Builder
	Mailer OneSender
	Now    func() time.Time
}

// TestResult is what a test send did.
type TestResult struct {
	Subject  string
	Articles int
	Sent     []string
}

// TestSend sends the digest the next issue of edition would carry, as
// things stand now, to each of to, with the subject prefixed "[TEST]" and
// rendered for a sample subscriber (placeholder links). It creates no
// issue, writes no ledger row and marks nothing seen: it only reads the
// store. Every address is checked before anything is sent.
func TestSend(ctx context.Context, o TestSendOptions, edition string, to []string) (TestResult, error) {
	var res TestResult
	nl := o.Newsletter
	ed, ok := Edition{}, false
	for _, e := range o.Editions {
		if e.Name == edition || (edition == "" && !ok) {
			ed, ok = e, true
		}
	}
	if !ok {
		return res, fmt.Errorf("delivery: test send: unknown edition %q", edition)
	}
	if len(to) == 0 {
		return res, errors.New("delivery: test send: no address")
	}
	addrs := make([]*mail.Address, 0, len(to))
	for _, a := range to {
		addr, err := mail.ParseAddress(strings.TrimSpace(a))
		if err != nil {
			return res, fmt.Errorf("delivery: test send: %q is not an address: %w", a, err)
		}
		addrs = append(addrs, addr)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now().UTC().Truncate(time.Second)
	from := now.Add(-o.Window)
	var seen func(string) bool
	if o.Store != nil {
		last, found, err := o.Store.LastIssue(ctx, ed.Name)
		if err != nil {
			return res, err
		}
		if found {
			from = last.WindowTo
		}
		seen = func(id string) bool {
			m, err := o.Store.SeenArticles(ctx, ed.Name, []string{id})
			return err == nil && m[id]
		}
		from = from.Add(-o.LateArrival)
	}
	d, err := o.Build(ctx, from, now, seen)
	if err != nil {
		return res, err
	}
	d.Edition = ed.Name
	rd, err := o.Renderer.Render(d, nil)
	if err != nil {
		return res, err
	}
	res.Subject, res.Articles = "[TEST] "+rd.Subject, d.Count()
	sample := links.Subject{}
	unsub := o.Links.UnsubscribeURL(sample, now)
	for i, addr := range addrs {
		html, text := rd.Personalize(render.Recipient{
			Name: "Sample Reader", Email: addr.Address,
			UnsubscribeURL: unsub, PreferencesURL: o.Links.PreferencesURL(sample, now),
		})
		m := &mailer.Message{
			From: nl.From, To: addr.String(), ReplyTo: nl.ReplyTo,
			Subject: res.Subject, Date: now,
			// Unique per test: clients must not fold a test into the issue.
			MessageID:      fmt.Sprintf("test-%d.%d.%s", now.UnixNano(), i, MessageID(0, 0, nl.From)),
			HTML:           html,
			Text:           text,
			ListID:         nl.ListID,
			UnsubscribeURL: unsub,
			Headers:        withListArchive(o.Archive, o.Links, map[string]string{"X-Digest-Test": "1"}),
		}
		if err := o.Mailer.Send(ctx, m); err != nil {
			return res, fmt.Errorf("delivery: test send to %s: %w", addr.Address, err)
		}
		res.Sent = append(res.Sent, addr.Address)
	}
	return res, nil
}
