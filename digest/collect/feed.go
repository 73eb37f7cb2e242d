package collect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/mmcdole/gofeed"
	ext "github.com/mmcdole/gofeed/extensions"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"
)

// ParseFeed parses an RSS (0.9x, 1.0, 2.0), Atom or JSON feed into
// articles. feedURL is where the feed came from; relative links resolve
// against the feed's own link, else against feedURL.
//
// gofeed is a strict XML reader, so a feed it refuses is repaired and tried
// again: a byte-order mark is dropped, the declared encoding (or
// windows-1252 for undeclared non-UTF-8 bytes) is transcoded to UTF-8, and
// invalid bytes are replaced. A document that is cut off (a truncated
// download, an unclosed root) keeps its complete items: ParseFeed then
// returns those articles together with an error saying the feed was
// truncated. What cannot be read at all is an error with no articles.
func ParseFeed(data []byte, feedURL string, src config.Source, opts Options) ([]digest.Article, error) {
	feed, err := parseTolerant(data)
	if feed == nil {
		return nil, err
	}
	return feedArticles(feed, feedURL, src, opts), err
}

// errTruncated marks a feed that was cut off and parsed only in part.
var errTruncated = errors.New("truncated")

func parseTolerant(data []byte) (*gofeed.Feed, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("feed: empty document")
	}
	feed, firstErr := parseOnce(data)
	if firstErr == nil {
		return feed, nil
	}
	lastErr := firstErr
	repaired, changed := repairEncoding(data)
	if changed {
		var err error
		if feed, err = parseOnce(repaired); err == nil {
			return feed, nil
		}
		lastErr = err
	}
	// Last resort: keep what came before the break.
	if cut, n, ok := closeTruncated(repaired); ok {
		if feed, err := parseOnce(cut); err == nil {
			return feed, fmt.Errorf("feed: %w document, kept %d complete items: %s", errTruncated, n, describeParseError(repaired, lastErr))
		}
	}
	return nil, fmt.Errorf("feed: %s", describeParseError(repaired, lastErr))
}

// parseOnce runs gofeed, turning a panic inside it into an error: a
// malformed feed must never take the whole collection down.
func parseOnce(data []byte) (feed *gofeed.Feed, err error) {
	defer func() {
		if r := recover(); r != nil {
			feed, err = nil, fmt.Errorf("parser panic: %v", r)
		}
	}()
	return gofeed.NewParser().Parse(bytes.NewReader(data))
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// xmlEncoding matches the XML declaration's encoding attribute, wherever the
// declaration sits in the first bytes (some feeds put a comment first).
var xmlEncoding = regexp.MustCompile(`(?i)(<\?xml[^>]*?)\s+encoding\s*=\s*["']([^"']*)["']`)

// repairEncoding returns data as clean UTF-8 with any encoding declaration
// removed, and whether anything changed.
func repairEncoding(data []byte) ([]byte, bool) {
	out := bytes.TrimPrefix(data, utf8BOM)
	head := out
	if len(head) > 1024 {
		head = head[:1024]
	}
	declared := ""
	if m := xmlEncoding.FindSubmatch(head); m != nil {
		declared = strings.ToLower(strings.TrimSpace(string(m[2])))
	}
	switch {
	case declared != "" && declared != "utf-8" && declared != "utf8":
		if enc, name := charset.Lookup(declared); enc != nil && name != "utf-8" {
			if dec, err := enc.NewDecoder().Bytes(out); err == nil {
				out = dec
			}
		} else if !utf8.Valid(out) {
			// An encoding name nobody knows: guess the commonest legacy one.
			out = decodeLatin1(out)
		}
	case !utf8.Valid(out):
		// Undeclared and not UTF-8: the Western legacy encodings are by far
		// the likeliest, and windows-1252 is a superset of Latin-1's
		// printable range.
		out = decodeLatin1(out)
	}
	out = bytes.ToValidUTF8(out, []byte("\uFFFD"))
	// The bytes are UTF-8 now; a declaration naming anything else would make
	// the XML reader transcode them a second time.
	out = xmlEncoding.ReplaceAll(out, []byte("$1"))
	return out, !bytes.Equal(out, data)
}

func decodeLatin1(b []byte) []byte {
	dec, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return b
	}
	return dec
}

// describeParseError gives a reader a hint of what kind of breakage it is.
func describeParseError(data []byte, err error) string {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	msg := err.Error()
	switch {
	case errors.Is(err, gofeed.ErrFeedTypeNotDetected):
		return "not an RSS, Atom or JSON feed (" + msg + ")"
	case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['):
		if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "unexpected end") ||
			strings.Contains(msg, "in string literal") || !bytes.HasSuffix(trimmed, []byte("}")) {
			return "truncated JSON: " + msg
		}
		return "invalid JSON: " + msg
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "<!["):
		return "truncated or malformed XML: " + msg
	}
	return msg
}

// feedArticles turns a parsed feed into articles.
func feedArticles(feed *gofeed.Feed, feedURL string, src config.Source, opts Options) []digest.Article {
	base := feedBase(feed, feedURL)
	source := cleanTitle(feed.Title)
	if source == "" {
		source = src.Name
	}
	now := opts.now()
	out := make([]digest.Article, 0, len(feed.Items))
	for _, it := range feed.Items {
		if it == nil {
			continue
		}
		a := itemArticle(it, base, opts)
		a.Source = source
		a.SourceName = src.Name
		if a.Published.IsZero() {
			a.Published = now
		}
		out = append(out, a)
	}
	return out
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

func itemArticle(it *gofeed.Item, base *url.URL, opts Options) digest.Article {
	var a digest.Article
	a.URL = resolveURL(base, it.Link)
	if a.URL == "" {
		for _, l := range it.Links {
			if a.URL = resolveURL(base, l); a.URL != "" {
				break
			}
		}
	}
	guid := strings.TrimSpace(it.GUID)
	if a.URL == "" && isHTTPURL(guid) {
		a.URL = guid
	}
	if a.URL != "" && !isHTTPURL(a.URL) && !strings.HasPrefix(a.URL, "file:") {
		// javascript:, mailto: and friends are not article links.
		a.URL = ""
	}

	mediaDesc := mediaDescription(it.Extensions)
	description := strings.TrimSpace(it.Description)
	content := strings.TrimSpace(it.Content)

	// Summary prefers the short description; Body the fullest text.
	summarySrc := description
	if htmlToText(summarySrc, false) == "" {
		summarySrc = content
	}
	if htmlToText(summarySrc, false) == "" {
		summarySrc = mediaDesc
	}
	bodySrc := content
	for _, cand := range []string{description, mediaDesc} {
		if len(cand) > len(bodySrc) {
			bodySrc = cand
		}
	}
	a.Body = htmlToText(bodySrc, true)
	a.Summary = truncate(htmlToText(summarySrc, false), opts.summaryChars())

	a.Title = cleanTitle(it.Title)
	if a.Title == "" {
		a.Title = titleFromText(htmlToText(summarySrc, false))
	}
	if a.Title == "" {
		a.Title = titleFromText(a.Body)
	}
	if a.Title == "" && a.URL != "" {
		a.Title = a.URL
	}
	if a.Title == "" {
		a.Title = "(untitled)"
	}

	switch {
	case it.PublishedParsed != nil && !it.PublishedParsed.IsZero():
		a.Published = it.PublishedParsed.UTC()
	case it.UpdatedParsed != nil && !it.UpdatedParsed.IsZero():
		a.Published = it.UpdatedParsed.UTC()
	}

	a.Author = itemAuthor(it)
	a.Categories = cleanCategories(it.Categories)
	a.ImageURL = itemImage(it, base)

	a.GUID = guid
	switch {
	case guid != "":
		a.ID = guid
	case canonicalURL(a.URL) != "":
		a.ID = canonicalURL(a.URL)
	default:
		a.ID = hashID(a.Title, it.Link)
	}
	return a
}

func itemAuthor(it *gofeed.Item) string {
	for _, p := range it.Authors {
		if p == nil {
			continue
		}
		if n := cleanTitle(p.Name); n != "" {
			return n
		}
		if e := cleanTitle(p.Email); e != "" {
			return e
		}
	}
	if it.DublinCoreExt != nil {
		for _, c := range it.DublinCoreExt.Creator {
			if n := cleanTitle(c); n != "" {
				return n
			}
		}
	}
	return ""
}

func cleanCategories(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range in {
		// Some feeds pack several categories into one element.
		for _, part := range strings.Split(c, ",") {
			part = cleanTitle(part)
			key := strings.ToLower(part)
			if part == "" || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, part)
		}
	}
	return out
}

// itemImage finds an http(s) image for the item: its image, an image
// enclosure, or a media:thumbnail / media:content image (also inside
// media:group).
func itemImage(it *gofeed.Item, base *url.URL) string {
	try := func(raw string) string {
		u := resolveURL(base, raw)
		if isHTTPURL(u) {
			return u
		}
		return ""
	}
	if it.Image != nil {
		if u := try(it.Image.URL); u != "" {
			return u
		}
	}
	for _, e := range it.Enclosures {
		if e != nil && strings.HasPrefix(strings.ToLower(e.Type), "image/") {
			if u := try(e.URL); u != "" {
				return u
			}
		}
	}
	media := it.Extensions["media"]
	var walk func(map[string][]ext.Extension) string
	walk = func(m map[string][]ext.Extension) string {
		for _, th := range m["thumbnail"] {
			if u := try(th.Attrs["url"]); u != "" {
				return u
			}
		}
		for _, c := range m["content"] {
			typ := strings.ToLower(c.Attrs["type"])
			if c.Attrs["medium"] == "image" || strings.HasPrefix(typ, "image/") {
				if u := try(c.Attrs["url"]); u != "" {
					return u
				}
			}
			if u := walk(c.Children); u != "" {
				return u
			}
		}
		for _, g := range m["group"] {
			if u := walk(g.Children); u != "" {
				return u
			}
		}
		return ""
	}
	if media != nil {
		return walk(media)
	}
	return ""
}

// mediaDescription finds media:description, directly on the item or
// inside media:group (YouTube puts the only text there).
func mediaDescription(exts ext.Extensions) string {
	media := exts["media"]
	if media == nil {
		return ""
	}
	for _, d := range media["description"] {
		if strings.TrimSpace(d.Value) != "" {
			return d.Value
		}
	}
	for _, g := range media["group"] {
		for _, d := range g.Children["description"] {
			if strings.TrimSpace(d.Value) != "" {
				return d.Value
			}
		}
	}
	return ""
}
