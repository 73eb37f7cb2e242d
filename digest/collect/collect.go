// Package collect gathers articles from the configured sources. It is the
// engine; each job has its own package, as in miniflux's reader:
//
//	fetcher/      getting documents: HTTP (conditional GET, Retry-After,
//	              the private-address guard) and local files (regular
//	              files only, bounded and cancellable reads)
//	feedparse/    RSS, Atom and JSON Feed documents into articles
//	articlefile/  article files, one format per file (.md, .txt, .html)
//	htmltext/     HTML to plain text, in one tokenizer pass
//
// and each kind of source (a feed, a folder) is one file here
// (feedsource.go, folder.go) listed in kinds.
//
// The rules:
//   - At most Options.Concurrency sources are fetched at once, and at most
//     Options.PerHost from one host; a source waits for its host's slot
//     before it takes one of the run's, so a long list on one site never
//     holds up the others.
//   - Every source has its own timeout (config.Source.Timeout) and size
//     cap; one that fails is reported by name in Result.Errors and the
//     others go on. A panic in one source is reported like a failure.
//   - At most Options.Parsers fetched documents are parsed at once
//     (GOMAXPROCS by default): fetching waits on the network, parsing
//     on the CPU, and a parse holds its document, the whole parsed tree
//     and the articles at once. Every parse beyond the CPUs would only
//     add memory, not speed. A document leaves memory as soon as its
//     articles are made.
//   - Each source keeps at most its MaxItems newest items, and each
//     article at most TextBytes of text: memory is bounded by the number
//     of sources, not by what they send.
package collect

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
	"github.com/digest-newsletter/digest/digest/collect/fetcher"
	"github.com/digest-newsletter/digest/digest/spill"
	"github.com/digest-newsletter/digest/internal/config"
)

// FeedState remembers a feed's validators for conditional GET; the store
// implements it.
type FeedState = fetcher.State

// Options tunes a collection run. The zero value works.
type Options struct {
	// Concurrency bounds the sources fetched at once; 0: DefaultConcurrency.
	Concurrency int
	// PerHost bounds the sources fetched at once from one host; 0:
	// DefaultPerHost.
	PerHost int
	// Parsers bounds the documents parsed at once; 0: GOMAXPROCS.
	Parsers   int
	UserAgent string // "" = fetcher.DefaultUserAgent
	// SummaryChars cuts summaries at a word boundary (runes); 0: 280.
	SummaryChars int
	// TextBytes caps each article's text (used for grouping and story
	// merging, never shown whole); 0: feedparse.DefaultTextBytes.
	TextBytes int
	// MaxItems keeps a source's newest items only, unless the source sets
	// its own; 0: DefaultMaxItems.
	MaxItems int
	// HTTPClient sends the requests; nil: fetcher.NewClient, which keeps
	// public feeds away from private addresses.
	HTTPClient *http.Client
	// Spill takes the articles' texts (Body) as each source is done, so
	// the run's memory does not grow with them; nil: they stay in memory.
	Spill  *spill.File
	State  FeedState        // nil: no conditional GET
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // dates items that have none; nil: time.Now
}

// Defaults of Options' zero fields. The run's bound limits sockets and
// documents in flight; politeness is the per-host bound's job, so the
// run's can be wide: 48 feeds at once fetch 500 feeds 100 ms away in
// about a second (at 32 the waits alone take 1.6 s).
const (
	DefaultConcurrency = config.DefaultCollectWorkers
	DefaultPerHost     = config.DefaultCollectPerHost
	DefaultMaxItems    = config.DefaultMaxItems
)

// Result is everything one run collected, in source order, and every
// source (or file) that failed.
type Result struct {
	Articles []digest.Article
	Errors   []digest.SourceError
}

// run is one collection: options with defaults filled in, and what the
// sources share.
type run struct {
	o     Options
	fetch *fetcher.Fetcher
	parse chan struct{} // a slot per document being parsed
	log   *slog.Logger
	now   time.Time
}

func newRun(o Options) *run {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PerHost <= 0 {
		o.PerHost = DefaultPerHost
	}
	if o.MaxItems <= 0 {
		o.MaxItems = DefaultMaxItems
	}
	if o.Parsers <= 0 {
		o.Parsers = runtime.GOMAXPROCS(0)
	}
	if o.SummaryChars <= 0 {
		o.SummaryChars = feedparse.DefaultSummaryChars
	}
	if o.TextBytes <= 0 {
		o.TextBytes = feedparse.DefaultTextBytes
	}
	r := &run{o: o, parse: make(chan struct{}, o.Parsers), log: o.Logger, now: time.Now().UTC()}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if o.Now != nil {
		r.now = o.Now().UTC()
	}
	r.fetch = fetcher.New(fetcher.Options{UserAgent: o.UserAgent, Client: o.HTTPClient, IdlePerHost: o.PerHost,
		// A run has at most Concurrency requests in flight: more idle
		// connections than that cannot all be used again at once.
		MaxIdle: o.Concurrency,
		State:   o.State, Logger: r.log})
	return r
}

// parsing waits for a parse slot; done gives it back.
func (r *run) parsing(ctx context.Context) (done func(), err error) {
	select {
	case r.parse <- struct{}{}:
		return func() { <-r.parse }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// maxItems is a source's item cap.
func (r *run) maxItems(src config.Source) int {
	if src.MaxItems > 0 {
		return src.MaxItems
	}
	return r.o.MaxItems
}

// Collect fetches every source and returns the articles in source order.
// It never fails as a whole: each source that cannot be collected becomes
// one entry in Result.Errors.
func Collect(ctx context.Context, sources []config.Source, opts Options) Result {
	r := newRun(opts)
	type outcome struct {
		articles []digest.Article
		errs     []digest.SourceError
	}
	results := make([]outcome, len(sources))
	slots := newSlots(r.o.Concurrency, r.o.PerHost)
	start := time.Now()
	var wg sync.WaitGroup
	for i, src := range sources {
		k := kindOf(src)
		wg.Go(func() {
			release, err := slots.acquire(ctx, k.host(src))
			if err != nil {
				results[i].errs = []digest.SourceError{sourceError(src.Name, err)}
				return
			}
			defer release()
			t := time.Now()
			arts, errs := r.collectSource(ctx, k, src)
			results[i] = outcome{arts, errs}
			r.log.Debug("collect: source done", "source", src.Name, "articles", len(arts),
				"errors", len(errs), "duration", time.Since(t))
			for _, e := range errs {
				r.log.Warn("collect: source failed", "source", e.Source, "error", e.Error)
			}
		})
	}
	wg.Wait()
	r.fetch.Close()
	var res Result
	n := 0
	for _, o := range results {
		n += len(o.articles)
	}
	res.Articles = make([]digest.Article, 0, n)
	for i := range results {
		res.Articles = append(res.Articles, results[i].articles...)
		res.Errors = append(res.Errors, results[i].errs...)
		results[i] = outcome{} // let the per-source slices go as we copy
	}
	r.log.Info("collect: done", "sources", len(sources), "articles", len(res.Articles),
		"errors", len(res.Errors), "duration", time.Since(start).Round(time.Millisecond))
	return res
}

// sourceError names the source an error belongs to.
func sourceError(name string, err error) digest.SourceError {
	return digest.SourceError{Source: name, Error: fmt.Sprintf("collect: source %q: %v", name, err)}
}

// collectSource collects one source within its timeout, recovering from
// any panic so that one pathological source is reported instead of
// ending the run.
func (r *run) collectSource(ctx context.Context, k kind, src config.Source) (arts []digest.Article, errs []digest.SourceError) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("collect: panic", "source", src.Name, "panic", p, "stack", string(debug.Stack()))
			arts = nil
			errs = append(errs, sourceError(src.Name, fmt.Errorf("internal error: %v", p)))
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, []digest.SourceError{sourceError(src.Name, err)}
	}
	if src.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, src.Timeout)
		defer cancel()
	}
	arts, errs = k.collect(ctx, r, src)
	for i := range arts {
		arts[i].Body = arts[i].Body.Spill(r.o.Spill)
	}
	return arts, errs
}
