package collect

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
	"github.com/digest-newsletter/digest/internal/config"
)

// parseFeed is feedparse.Parse; tests wrap it to watch the parse bound.
var parseFeed = feedparse.Parse

// feedSource is a feed: [[sources]] with a url (http, https or file).
type feedSource struct{}

func (feedSource) match(src config.Source) bool { return src.URL != "" }

func (feedSource) host(src config.Source) string {
	u, err := url.Parse(src.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return strings.ToLower(u.Host)
}

// collect fetches and parses one feed. A truncated feed yields its
// complete items and an error.
func (feedSource) collect(ctx context.Context, r *run, src config.Source) ([]digest.Article, []digest.SourceError) {
	doc, err := r.fetch.Get(ctx, src.URL, src.MaxBytes)
	if err != nil {
		return nil, []digest.SourceError{sourceError(src.Name, fetchError(ctx, src, err))}
	}
	if doc.NotModified {
		return nil, nil
	}
	// The source keeps its fetch slot while it waits: documents waiting
	// to be parsed stay bounded by the fetch slots.
	done, err := r.parsing(ctx)
	if err != nil {
		return nil, []digest.SourceError{sourceError(src.Name, err)}
	}
	body := doc.Body
	doc.Body = nil // Keep needs the validators only
	arts, err := parseFeed(body, doc.URL, feedparse.Options{
		SourceName:   src.Name,
		SummaryChars: r.o.SummaryChars,
		TextBytes:    r.o.TextBytes,
		MaxItems:     r.maxItems(src),
		Now:          r.now,
	})
	done()
	if err != nil {
		return arts, []digest.SourceError{sourceError(src.Name, err)}
	}
	r.fetch.Keep(ctx, doc)
	return arts, nil
}

// fetchError names a timeout as such rather than as a bare "context
// deadline exceeded" deep inside a URL error.
func fetchError(ctx context.Context, src config.Source, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http: GET %s: timeout after %s: %w", src.URL, src.Timeout, context.DeadlineExceeded)
	}
	return err
}
