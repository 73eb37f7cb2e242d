// Package archive publishes the issues readers have received: a list of
// them (/archive), each issue as a web page (/archive/{issue}), and the
// newest as Atom 1.0 (RFC 4287) and JSON Feed 1.1 feeds with their full
// content. The same pages can be written out as static files (Export).
//
// The rules:
//   - An issue is public once it has reached a reader: it is done, or it is
//     still sending and at least one message has left (store.ArchivedIssues).
//   - A page is rendered from the issue's frozen digest for a neutral
//     reader: no name, no address, no token, nothing cut. It is rendered
//     once per issue and kept in memory (a frozen issue never changes), so
//     a request costs a map lookup, never a template run.
//   - Every page links to both feeds (<link rel="alternate">) and carries
//     OpenGraph tags.
package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/store"
)

// Store is where sent issues live; *store.DB satisfies it.
type Store interface {
	ArchivedIssues(ctx context.Context, edition string, offset, limit int) ([]store.Issue, error)
	CountArchivedIssues(ctx context.Context, edition string) (int, error)
	ArchivedEditions(ctx context.Context) ([]string, error)
	ArchivedIssue(ctx context.Context, id int64) (store.Issue, error)
}

// Renderer renders an issue page; *render.Renderer satisfies it.
type Renderer interface {
	RenderPage(d *digest.Digest, l render.PageLinks) (*render.Page, error)
}

// Options wires an Archive. Store, Renderer, Digest and BaseURL are
// required.
type Options struct {
	Store    Store
	Renderer Renderer
	// Digest reads an issue's frozen digest from its payload
	// (delivery.FrozenDigest).
	Digest func(payload []byte) (*digest.Digest, error)
	// BaseURL is newsletter.base_url: the archive lives at BaseURL/archive.
	BaseURL string
	// Title, Description and Language describe the newsletter in the
	// feeds and on the list page.
	Title, Description, Language string
	// Accent and AccentDark colour the list page as the email is
	// (render.Accents); "" means the default blue.
	Accent, AccentDark string
	// PageSize is the number of issues per list page; FeedItems the
	// number of newest issues in each feed.
	PageSize, FeedItems int
	// CacheSize bounds the rendered pages kept in memory (default 256).
	CacheSize int
	Logger    *slog.Logger
}

// Archive serves and exports the archive. It is safe for concurrent use.
type Archive struct {
	o   Options
	web urls

	mu    sync.Mutex // guards cache and order, never held while rendering
	cache map[int64]*cached
	order []int64 // cache keys, oldest first
}

// cached is one issue's page, loaded once however many requests ask for it
// at the same time.
type cached struct {
	once sync.Once
	e    *Entry
	err  error
}

// Entry is one archived issue with its rendered page.
type Entry struct {
	store.Issue
	Page *render.Page
}

// Published is when the issue went out (its creation: the window's end).
func (e *Entry) Published() time.Time { return e.Created }

// ErrNotFound is an issue that does not exist or has reached no reader.
var ErrNotFound = errors.New("archive: no such issue")

// New checks o and returns an Archive.
func New(o Options) (*Archive, error) {
	if o.Store == nil || o.Renderer == nil || o.Digest == nil {
		return nil, errors.New("archive: store, renderer and digest reader are required")
	}
	web, err := serverURLs(o.BaseURL)
	if err != nil {
		return nil, err
	}
	if o.PageSize <= 0 {
		o.PageSize = 20
	}
	if o.FeedItems <= 0 {
		o.FeedItems = 20
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Language == "" {
		o.Language = "en"
	}
	if o.Accent == "" || o.AccentDark == "" {
		o.Accent, o.AccentDark = "#1a5fb4", "#5387c7"
	}
	return &Archive{o: o, web: web, cache: map[int64]*cached{}}, nil
}

// Issue returns an archived issue and its page, rendered on first use.
// Concurrent first requests for one issue wait for a single render; a
// failure (an issue not public yet) is not kept, so it is asked again.
func (a *Archive) Issue(ctx context.Context, id int64) (*Entry, error) {
	a.mu.Lock()
	c, ok := a.cache[id]
	if !ok {
		c = &cached{}
		a.cache[id] = c
		a.order = append(a.order, id)
		if len(a.order) > a.o.CacheSize {
			delete(a.cache, a.order[0])
			a.order = a.order[1:]
		}
	}
	a.mu.Unlock()
	c.once.Do(func() { c.e, c.err = a.load(ctx, id) })
	if c.err != nil {
		a.mu.Lock()
		if a.cache[id] == c {
			delete(a.cache, id)
			a.order = slices.DeleteFunc(a.order, func(k int64) bool { return k == id })
		}
		a.mu.Unlock()
		return nil, c.err
	}
	return c.e, nil
}

func (a *Archive) load(ctx context.Context, id int64) (*Entry, error) {
	is, err := a.o.Store.ArchivedIssue(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("archive: issue %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return a.render(is, a.web)
}

// render renders is (with its payload) with the links of u.
func (a *Archive) render(is store.Issue, u urls) (*Entry, error) {
	d, err := a.o.Digest(is.Payload)
	if err != nil {
		return nil, fmt.Errorf("archive: issue %d: %w", is.ID, err)
	}
	p, err := a.o.Renderer.RenderPage(d, render.PageLinks{
		Issue: u.canonical(is.ID), Archive: u.index(""), Atom: u.atom(), JSON: u.json(), Subscribe: u.subscribe(),
	})
	if err != nil {
		return nil, fmt.Errorf("archive: issue %d: %w", is.ID, err)
	}
	is.Payload = nil // the page is what is kept
	return &Entry{Issue: is, Page: p}, nil
}

// list returns the entries of one list page (from 1) of an edition ("" for
// all), and the number of pages.
func (a *Archive) list(ctx context.Context, edition string, page int) ([]*Entry, int, error) {
	total, err := a.o.Store.CountArchivedIssues(ctx, edition)
	if err != nil {
		return nil, 0, err
	}
	pages := max(1, (total+a.o.PageSize-1)/a.o.PageSize)
	issues, err := a.o.Store.ArchivedIssues(ctx, edition, (page-1)*a.o.PageSize, a.o.PageSize)
	if err != nil {
		return nil, 0, err
	}
	out, err := a.entries(ctx, issues)
	return out, pages, err
}

// entries loads the pages of issues (listed without payloads).
func (a *Archive) entries(ctx context.Context, issues []store.Issue) ([]*Entry, error) {
	out := make([]*Entry, 0, len(issues))
	for _, is := range issues {
		e, err := a.Issue(ctx, is.ID)
		if errors.Is(err, ErrNotFound) {
			continue // gone between the two queries
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// newest returns the FeedItems newest issues of every edition.
func (a *Archive) newest(ctx context.Context) ([]*Entry, error) {
	issues, err := a.o.Store.ArchivedIssues(ctx, "", 0, a.o.FeedItems)
	if err != nil {
		return nil, err
	}
	return a.entries(ctx, issues)
}
