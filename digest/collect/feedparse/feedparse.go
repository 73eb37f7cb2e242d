// Package feedparse turns a feed document (RSS 0.9x, 1.0 and 2.0, Atom,
// JSON Feed) into articles. It reads through github.com/mmcdole/gofeed and
// repairs what gofeed refuses (see parseTolerant); each item's HTML is
// converted to text once (package htmltext), and only what the digest
// uses is kept: title, link, a summary, and the item's text up to a cap.
package feedparse

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/htmltext"
	"github.com/mmcdole/gofeed"
)

// Options says how to read one feed. The zero value works.
type Options struct {
	// SourceName is the [[sources]] name: every article's SourceName, and
	// its Source, which readers see. The feed's own title is only the
	// fallback for an unnamed source (feed titles are often a slogan:
	// "www.telegraph.co.uk for the latest news from the UK…").
	SourceName string
	// SummaryChars cuts summaries at a word boundary (runes); 0: 280.
	SummaryChars int
	// TextBytes caps the text kept per item for grouping and story
	// merging; 0: 4096.
	TextBytes int
	// MaxItems keeps only the newest items of a long feed; 0: all.
	MaxItems int
	// Now dates items that have no date.
	Now time.Time
}

// Defaults of Options' zero fields.
const (
	DefaultSummaryChars = 280
	DefaultTextBytes    = 4 << 10
)

// Parse reads a feed. feedURL is where it came from: relative links
// resolve against the feed's own link, else against feedURL.
//
// A document that was cut off keeps its complete items: Parse returns
// them together with an error saying the feed was truncated. What cannot
// be read at all is an error with no articles.
func Parse(data []byte, feedURL string, o Options) ([]digest.Article, error) {
	p := gofeed.NewParser()
	// gofeed would parse every item's HTML into a DOM to find a first
	// image; our one pass over the item's HTML finds it anyway.
	p.RSSTranslator = &gofeed.DefaultRSSTranslator{DisableContentImageScan: true}
	feed, err := parseTolerant(p, data)
	if feed == nil {
		return nil, err
	}
	return articles(feed, feedURL, o.withDefaults()), err
}

func (o Options) withDefaults() Options {
	if o.SummaryChars <= 0 {
		o.SummaryChars = DefaultSummaryChars
	}
	if o.TextBytes <= 0 {
		o.TextBytes = DefaultTextBytes
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC()
	return o
}

// articles turns a parsed feed into articles, newest items first when the
// feed has more than MaxItems.
func articles(feed *gofeed.Feed, feedURL string, o Options) []digest.Article {
	c := converter{base: feedBase(feed, feedURL), o: o}
	source := strings.TrimSpace(o.SourceName)
	if source == "" {
		source = htmltext.Line(feed.Title)
	}
	items := newest(feed.Items, o.MaxItems)
	out := make([]digest.Article, 0, len(items))
	for _, it := range items {
		a := c.article(it)
		a.Source = source
		a.SourceName = o.SourceName
		if a.Source == "" {
			a.Source = a.SourceName
		}
		out = append(out, a)
	}
	return out
}

// newest returns at most max items (0: all): the newest by date when every
// item has one, else the first ones, since feeds list newest first.
func newest(items []*gofeed.Item, max int) []*gofeed.Item {
	items = slices.DeleteFunc(slices.Clone(items), func(it *gofeed.Item) bool { return it == nil })
	if max <= 0 || len(items) <= max {
		return items
	}
	for _, it := range items {
		if itemDate(it).IsZero() {
			return items[:max]
		}
	}
	slices.SortStableFunc(items, func(a, b *gofeed.Item) int { return itemDate(b).Compare(itemDate(a)) })
	return items[:max]
}

func itemDate(it *gofeed.Item) time.Time {
	switch {
	case it.PublishedParsed != nil && !it.PublishedParsed.IsZero():
		return it.PublishedParsed.UTC()
	case it.UpdatedParsed != nil && !it.UpdatedParsed.IsZero():
		return it.UpdatedParsed.UTC()
	}
	return time.Time{}
}

// feedBase is what relative item links resolve against: the feed's own
// site link when it is absolute, else the URL it was fetched from.
func feedBase(feed *gofeed.Feed, feedURL string) *url.URL {
	fu, _ := url.Parse(feedURL)
	if l := strings.TrimSpace(feed.Link); l != "" {
		if u, err := url.Parse(l); err == nil {
			if !u.IsAbs() && fu != nil {
				u = fu.ResolveReference(u)
			}
			if u.IsAbs() && (u.Scheme == "http" || u.Scheme == "https") {
				return u
			}
		}
	}
	return fu
}

// resolveURL makes ref absolute against base; it returns "" when the
// result is not absolute.
func resolveURL(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	if !r.IsAbs() && base != nil {
		r = base.ResolveReference(r)
	}
	if !r.IsAbs() {
		return ""
	}
	return r.String()
}

// IsHTTPURL reports whether s is an absolute http(s) URL.
func IsHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Categories cleans category names: one line each, split where a feed
// packs several into one element, duplicates (any case) dropped.
func Categories(in []string) []string {
	var out []string
	for _, c := range in {
		for _, part := range strings.Split(c, ",") {
			part = htmltext.Line(part)
			if part != "" && !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, part) }) {
				out = append(out, part)
			}
		}
	}
	return out
}
