// Package fetcher gets source documents: feeds over http(s), and files
// (file:// feeds, article folders) from the local disk.
//
// Over HTTP it sends conditional GETs (If-None-Match, If-Modified-Since)
// from the validators a State remembers, honours Retry-After on 429 and
// 503 (for the whole host, not only the feed that got it), refuses bodies
// over the size cap, and never lets a public feed reach a private address
// (see guard.go). Files are read only when they are regular files, with
// reads that stop at the size cap and when the context ends: a named pipe
// in an article folder must not hang a run.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// State remembers a feed's validators for conditional GET. The store
// implements it.
type State interface {
	FeedState(ctx context.Context, url string) (etag, lastModified string, err error)
	SetFeedState(ctx context.Context, url, etag, lastModified string) error
}

// Options configures a Fetcher. The zero value works.
type Options struct {
	UserAgent string // "" = DefaultUserAgent
	// Client sends the requests; nil: NewClient, with the private-address
	// guard. A client given here is used as it is.
	Client *http.Client
	// IdlePerHost and MaxIdle are passed to NewClient.
	IdlePerHost, MaxIdle int
	State                State        // nil: no conditional GET
	Logger               *slog.Logger // nil: discard
	// MaxRetryWait is the longest Retry-After honoured by waiting and
	// retrying once (within the request's deadline); a longer one fails
	// the fetch. 0: DefaultMaxRetryWait.
	MaxRetryWait time.Duration

	public func(netip.AddrPort) bool // tests: which addresses count as public
}

// Defaults.
const (
	DefaultUserAgent    = "digest/1 (+https://github.com/digest-newsletter/digest)"
	DefaultMaxRetryWait = 30 * time.Second
	DefaultMaxBytes     = 10 << 20
)

// Fetcher fetches documents. It is safe for concurrent use; one Fetcher
// serves a whole collection run, so that what one host said about waiting
// applies to all its feeds.
type Fetcher struct {
	o        Options
	client   *http.Client
	isPublic func(netip.AddrPort) bool
	log      *slog.Logger

	mu        sync.Mutex
	notBefore map[string]time.Time // host → when it may be asked again
}

// New returns a Fetcher.
func New(o Options) *Fetcher {
	f := &Fetcher{o: o, client: o.Client, isPublic: o.public, log: o.Logger, notBefore: map[string]time.Time{}}
	if f.isPublic == nil {
		f.isPublic = defaultPublic
	}
	if f.client == nil {
		f.client = NewClient(ClientOptions{IdlePerHost: o.IdlePerHost, MaxIdle: o.MaxIdle, public: f.isPublic})
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.o.UserAgent == "" {
		f.o.UserAgent = DefaultUserAgent
	}
	if f.o.MaxRetryWait <= 0 {
		f.o.MaxRetryWait = DefaultMaxRetryWait
	}
	return f
}

// Document is a fetched feed.
type Document struct {
	Body []byte
	// URL is where the body came from, after redirects: relative links in
	// the feed resolve against it.
	URL string
	// NotModified: the server answered 304 to the conditional GET, and
	// Body is empty.
	NotModified bool

	key, etag, lastModified string
}

// StatusError is a response other than 2xx or 304.
type StatusError struct {
	URL    string
	Status string
	Code   int
	// RetryAfter is what a 429 or 503 asked for; zero when it said nothing.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("http: GET %s: status %s", e.URL, e.Status)
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter.Round(time.Second))
	}
	return msg
}

// TooLargeError is a document over its size cap.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("body larger than max_bytes (%d bytes)", e.Limit)
}

// Get fetches an http(s) or file:// URL, reading at most maxBytes
// (<= 0: DefaultMaxBytes). A body over the cap is an error: a truncated
// feed would parse into garbage.
func (f *Fetcher) Get(ctx context.Context, rawURL string, maxBytes int64) (Document, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Document{}, fmt.Errorf("url: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		data, _, err := ReadFile(ctx, FileURLPath(u), maxBytes)
		return Document{Body: data, URL: rawURL}, err
	case "http", "https":
		return f.getHTTP(ctx, u, rawURL, maxBytes)
	default:
		return Document{}, fmt.Errorf("url %q: unsupported scheme %q (want http, https or file)", rawURL, u.Scheme)
	}
}

// Close closes the idle connections of a client New made; a client
// given in Options is the caller's to manage. An idle connection's
// goroutines keep it, its buffers and its Transport alive until the idle
// timeout: long after a collection run is over.
func (f *Fetcher) Close() {
	if f.o.Client == nil {
		f.client.CloseIdleConnections()
	}
}

// Keep saves a document's validators, so the next Get of its URL is a
// conditional one. Call it only once the document has been read
// successfully: validators saved for a feed that could not be read would
// turn its next fetch into a 304 and lose its articles for good.
func (f *Fetcher) Keep(ctx context.Context, d Document) {
	if f.o.State == nil || d.key == "" || (d.etag == "" && d.lastModified == "") {
		return
	}
	if err := f.o.State.SetFeedState(ctx, d.key, d.etag, d.lastModified); err != nil {
		f.log.Warn("fetcher: saving feed state", "url", d.key, "error", err)
	}
}

func (f *Fetcher) getHTTP(ctx context.Context, u *url.URL, rawURL string, maxBytes int64) (Document, error) {
	req := &request{private: configuredPrivate(u, f.isPublic)}
	doc, err := f.getWithRetry(ctx, req, u, rawURL, maxBytes)
	var refused *RefusedError
	if !req.private && req.hops.Load() == 0 && errors.As(err, &refused) {
		// The configured host itself answered with a private address:
		// the operator's own intranet feed, named rather than numbered.
		req = &request{private: true}
		return f.getWithRetry(ctx, req, u, rawURL, maxBytes)
	}
	return doc, err
}

// getWithRetry waits as long as the host asked, sends the request, and
// when a 429 or 503 asks for a wait the deadline allows, waits and tries
// once more.
func (f *Fetcher) getWithRetry(ctx context.Context, req *request, u *url.URL, rawURL string, maxBytes int64) (Document, error) {
	ctx = context.WithValue(ctx, requestKey, req)
	for attempt := 0; ; attempt++ {
		if err := f.waitHost(ctx, u.Host); err != nil {
			return Document{}, err
		}
		doc, err := f.send(ctx, rawURL, maxBytes)
		var st *StatusError
		if !errors.As(err, &st) || st.RetryAfter <= 0 {
			return doc, err
		}
		f.delayHost(u.Host, st.RetryAfter)
		if attempt > 0 || st.RetryAfter > f.o.MaxRetryWait || !fitsDeadline(ctx, st.RetryAfter) {
			return doc, err
		}
		f.log.Info("fetcher: server asked to wait", "url", rawURL, "status", st.Code, "retry_after", st.RetryAfter)
	}
}

// send is one GET.
func (f *Fetcher) send(ctx context.Context, rawURL string, maxBytes int64) (Document, error) {
	doc := Document{URL: rawURL, key: rawURL}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return doc, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("User-Agent", f.o.UserAgent)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
	if f.o.State != nil {
		etag, lm, err := f.o.State.FeedState(ctx, rawURL)
		if err != nil {
			f.log.Warn("fetcher: reading feed state", "url", rawURL, "error", err)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if lm != "" {
			req.Header.Set("If-Modified-Since", lm)
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return doc, fmt.Errorf("http: %w", err)
	}
	defer resp.Body.Close()
	if resp.Request != nil && resp.Request.URL != nil {
		doc.URL = resp.Request.URL.String()
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		doc.NotModified = true
		return doc, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		st := &StatusError{URL: rawURL, Status: resp.Status, Code: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			st.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return doc, st
	}
	doc.Body, err = readCapped(ctx, resp.Body, maxBytes)
	if err != nil {
		return doc, fmt.Errorf("http: GET %s: %w", rawURL, err)
	}
	doc.etag = resp.Header.Get("ETag")
	doc.lastModified = resp.Header.Get("Last-Modified")
	return doc, nil
}
