// Package digest holds the newsletter's domain: articles as collected from
// sources, the selection of what is new, and the grouping of articles into
// topics. It knows nothing of SMTP, storage or HTML; subpackages collect
// articles (collect), merge stories and find topics (stories) and render the
// digest (render).
package digest

import "time"

// Article is one item from one source, normalised. Text fields are plain
// text: feed HTML is reduced to text by the collector, so nothing from a
// feed reaches a template as markup.
//
// What is serialised (an issue's frozen payload, `collect --json`) is what
// rendering and the archive use; GUID, Body and Categories only serve
// selection and grouping, and stay out of it.
type Article struct {
	// ID is stable across runs: the GUID when the source has one, else the
	// canonical URL (see ArticleID). It is what "seen" and dedupe are
	// keyed on.
	ID   string `json:"id"`
	GUID string `json:"-"`
	// Title is plain text, never empty after collection (untitled feed items
	// get one derived from their text).
	Title string `json:"title"`
	// URL is absolute (relative feed links are resolved by the collector).
	URL string `json:"url"`
	// Source is who readers are told published it: for a feed, the
	// [[sources]] name (the feed's own title only when the source has
	// none); for an article file, the publication the file names, else the
	// [[sources]] name.
	Source string `json:"source"`
	// SourceName is the [[sources]] name in the config the article came
	// from; rules and weights are keyed on it.
	SourceName string    `json:"-"`
	Author     string    `json:"author,omitempty"`
	Published  time.Time `json:"published"`
	// Summary is plain text, cut at a word boundary, for display.
	Summary string `json:"summary,omitempty"`
	// Body is the plain text of the article as far as the source gives it,
	// up to the collector's cap, used for grouping and story merging and
	// dropped once they are done; never shown. A build keeps it in its
	// spill file (see Text).
	Body Text `json:"-"`
	// Categories are the source's own tags, for topic rules.
	Categories []string `json:"-"`
	// ImageURL is an optional absolute http(s) image for the article.
	ImageURL string `json:"image,omitempty"`
	// Also lists the same story as reported by other sources (filled in by
	// story merging).
	Also []Also `json:"also,omitempty"`
}

// Also is another source's report of the same story.
type Also struct {
	Source string `json:"source"`
	URL    string `json:"url"`
	Title  string `json:"title,omitempty"`
}

// Topic is a named group of articles, in display order.
type Topic struct {
	Name     string    `json:"name"`
	Auto     bool      `json:"auto,omitempty"` // found by clustering, not a [[topics]] rule
	Articles []Article `json:"articles"`
}

// SourceError reports one source that could not be collected; the digest
// goes on without it.
type SourceError struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

// Digest is the grouped content of one issue before rendering.
type Digest struct {
	Title   string    `json:"title"`
	Edition string    `json:"edition,omitempty"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	// Top are the lead stories (most sources, recent first); they also stay
	// in their topics.
	Top    []Article     `json:"top_stories,omitempty"`
	Topics []Topic       `json:"topics"`
	Errors []SourceError `json:"errors"`
}

// Count is the number of distinct articles in the digest's topics.
func (d *Digest) Count() int {
	n := 0
	for _, t := range d.Topics {
		n += len(t.Articles)
	}
	return n
}
