// Package collect fetches articles from the configured sources: feeds (RSS,
// Atom, JSON Feed over http(s) or file://) and folders of article files
// (.md, .txt, .html). Sources are fetched concurrently within a bound, each
// with its own timeout and size cap; a source that fails is reported by name
// and the others go on.
package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/config"
)

// FeedState remembers a feed's validators for conditional GET. It is
// declared here and implemented by the store.
type FeedState interface {
	FeedState(ctx context.Context, url string) (etag, lastModified string, err error)
	SetFeedState(ctx context.Context, url, etag, lastModified string) error
}

// Options tunes a collection run. The zero value works.
type Options struct {
	Concurrency  int              // max sources fetched at once; 0 = config.DefaultCollectWorkers
	UserAgent    string           // "" = a digest User-Agent
	SummaryChars int              // cut summaries at a word boundary to at most this many chars; 0 = config default
	HTTPClient   *http.Client     // nil = a default client with sane timeouts
	State        FeedState        // nil = no conditional GET
	Logger       *slog.Logger     // nil = discard
	Now          func() time.Time // for missing dates; nil = time.Now
}

// Result is everything one run collected, in source order, and every
// source (or file) that failed.
type Result struct {
	Articles []digest.Article
	Errors   []digest.SourceError
}

const defaultUserAgent = "digest/1 (+https://github.com/digest-newsletter/digest)"

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

func (o Options) summaryChars() int {
	if o.SummaryChars > 0 {
		return o.SummaryChars
	}
	return config.DefaultSummaryChars
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (o Options) concurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return config.DefaultCollectWorkers
}

// NewHTTPClient returns the client Collect uses when Options.HTTPClient is
// nil: bounded dial, TLS and header waits (the whole request is bounded by
// the source's timeout through its context), and enough idle connections
// per host for concurrent fetches from one site.
func NewHTTPClient(concurrency int) *http.Client {
	if concurrency <= 0 {
		concurrency = config.DefaultCollectWorkers
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   2 * time.Minute, // a backstop; the per-source context is the real bound
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			return nil
		},
	}
}

// Collect fetches every source, at most opts.Concurrency at once, and
// returns the articles in source order. It never fails as a whole: each
// source that cannot be collected becomes one entry in Result.Errors.
func Collect(ctx context.Context, sources []config.Source, opts Options) Result {
	if opts.HTTPClient == nil {
		opts.HTTPClient = NewHTTPClient(opts.concurrency())
	}
	log := opts.logger()
	type outcome struct {
		articles []digest.Article
		errs     []digest.SourceError
	}
	results := make([]outcome, len(sources))
	sem := make(chan struct{}, opts.concurrency())
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].errs = []digest.SourceError{srcError(src.Name, fmt.Errorf("collect: source %q: %w", src.Name, ctx.Err()))}
				return
			}
			defer func() { <-sem }()
			start := time.Now()
			arts, errs := collectSource(ctx, src, opts)
			results[i] = outcome{arts, errs}
			log.Debug("collect: source done", "source", src.Name, "articles", len(arts),
				"errors", len(errs), "duration", time.Since(start))
			for _, e := range errs {
				log.Warn("collect: source failed", "source", e.Source, "error", e.Error)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	var res Result
	for _, r := range results {
		res.Articles = append(res.Articles, r.articles...)
		res.Errors = append(res.Errors, r.errs...)
	}
	log.Info("collect: done", "sources", len(sources), "articles", len(res.Articles),
		"errors", len(res.Errors), "duration", time.Since(start).Round(time.Millisecond))
	return res
}

func srcError(name string, err error) digest.SourceError {
	return digest.SourceError{Source: name, Error: err.Error()}
}

// collectSource collects one source, recovering from any panic so that one
// pathological source is reported instead of ending the run.
func collectSource(ctx context.Context, src config.Source, opts Options) (arts []digest.Article, errs []digest.SourceError) {
	defer func() {
		if r := recover(); r != nil {
			opts.logger().Error("collect: panic", "source", src.Name, "panic", r, "stack", string(debug.Stack()))
			arts = nil
			errs = append(errs, srcError(src.Name, fmt.Errorf("collect: source %q: internal error: %v", src.Name, r)))
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, []digest.SourceError{srcError(src.Name, fmt.Errorf("collect: source %q: %w", src.Name, err))}
	}
	if src.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, src.Timeout)
		defer cancel()
	}
	switch {
	case src.URL != "":
		// A truncated feed yields its complete items and an error.
		arts, err := collectFeed(ctx, src, opts)
		if err != nil {
			return arts, []digest.SourceError{srcError(src.Name, fmt.Errorf("collect: source %q: %w", src.Name, err))}
		}
		return arts, nil
	case src.Path != "":
		return collectDir(ctx, src, opts)
	default:
		return nil, []digest.SourceError{srcError(src.Name, fmt.Errorf("collect: source %q: neither url nor path is set", src.Name))}
	}
}

// collectFeed fetches and parses one feed.
func collectFeed(ctx context.Context, src config.Source, opts Options) ([]digest.Article, error) {
	u, err := url.Parse(src.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		data, err := readFileCapped(fileURLPath(u), src.MaxBytes)
		if err != nil {
			return nil, err
		}
		return ParseFeed(data, src.URL, src, opts)
	case "http", "https":
	default:
		return nil, fmt.Errorf("url %q: unsupported scheme %q (want http, https or file)", src.URL, u.Scheme)
	}

	data, validators, notModified, err := fetchHTTP(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	if notModified {
		return nil, nil
	}
	arts, err := ParseFeed(data, validators.finalURL, src, opts)
	if err != nil {
		return arts, err
	}
	// Validators are saved only after a successful parse: saving them for a
	// feed we could not read would turn its next fetch into a 304 and lose
	// its articles for good.
	if opts.State != nil && (validators.etag != "" || validators.lastModified != "") {
		if err := opts.State.SetFeedState(ctx, src.URL, validators.etag, validators.lastModified); err != nil {
			opts.logger().Warn("collect: saving feed state", "source", src.Name, "error", err)
		}
	}
	return arts, nil
}

type validators struct {
	etag, lastModified, finalURL string
}

func fetchHTTP(ctx context.Context, src config.Source, opts Options) ([]byte, validators, bool, error) {
	v := validators{finalURL: src.URL}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return nil, v, false, fmt.Errorf("request: %w", err)
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = defaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
	if opts.State != nil {
		etag, lm, err := opts.State.FeedState(ctx, src.URL)
		if err != nil {
			opts.logger().Warn("collect: reading feed state", "source", src.Name, "error", err)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if lm != "" {
			req.Header.Set("If-Modified-Since", lm)
		}
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		return nil, v, false, fetchError(ctx, src, err)
	}
	defer resp.Body.Close()
	if resp.Request != nil && resp.Request.URL != nil {
		v.finalURL = resp.Request.URL.String()
	}
	if resp.StatusCode == http.StatusNotModified {
		return nil, v, true, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, v, false, fmt.Errorf("http: GET %s: status %s", src.URL, resp.Status)
	}
	data, err := readCapped(resp.Body, src.MaxBytes)
	if err != nil {
		return nil, v, false, fetchError(ctx, src, err)
	}
	v.etag = resp.Header.Get("ETag")
	v.lastModified = resp.Header.Get("Last-Modified")
	return data, v, false, nil
}

// fetchError names a timeout as such rather than as a bare "context
// deadline exceeded" deep inside a URL error.
func fetchError(ctx context.Context, src config.Source, err error) error {
	var tooBig *tooLargeError
	if errors.As(err, &tooBig) {
		return fmt.Errorf("http: GET %s: %w", src.URL, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http: GET %s: timeout after %s: %w", src.URL, src.Timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("http: %w", err)
}

type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("body larger than max_bytes (%d bytes)", e.limit)
}

// readCapped reads r whole unless it holds more than limit bytes, which is
// an error naming the limit (a truncated feed would parse into garbage).
// limit <= 0 means config.DefaultMaxBytes.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = config.DefaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, &tooLargeError{limit: limit}
	}
	return data, nil
}

func readFileCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	defer f.Close()
	data, err := readCapped(f, limit)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	return data, nil
}

// fileURLPath is the local path of a file:// URL; "file:relative/x.xml"
// (opaque) is taken as a path relative to the working directory.
func fileURLPath(u *url.URL) string {
	if u.Opaque != "" {
		return u.Opaque
	}
	if u.Host != "" && u.Host != "localhost" {
		// file://examples/feed.xml is a common slip for a relative path.
		return u.Host + u.Path
	}
	return u.Path
}
