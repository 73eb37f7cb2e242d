package feedparse

import (
	"net/url"
	"strings"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/htmltext"
	"github.com/mmcdole/gofeed"
	ext "github.com/mmcdole/gofeed/extensions"
)

// converter turns the items of one feed into articles.
type converter struct {
	base *url.URL
	o    Options
}

// article converts one item. Each piece of item HTML is converted to text
// at most once: the fullest one (content, description or
// media:description) becomes the article's text, and the summary reuses
// it unless a shorter description exists, which is then converted up to
// the summary's length only.
func (c *converter) article(it *gofeed.Item) digest.Article {
	var a digest.Article
	a.URL = c.link(it)
	description := strings.TrimSpace(it.Description)
	content := strings.TrimSpace(it.Content)
	media := strings.TrimSpace(mediaDescription(it.Extensions))

	bodySrc := content
	for _, cand := range []string{description, media} {
		if len(cand) > len(bodySrc) {
			bodySrc = cand
		}
	}
	body := htmltext.Convert(bodySrc, c.o.TextBytes)
	a.Body = digest.NewText(body.Text)

	// The summary prefers the short description, then the content, then
	// media:description: the first of them that holds any text.
	summary, image := "", body.Image
	for _, cand := range []string{description, content, media} {
		if cand == "" {
			continue
		}
		text := body.Text
		if cand != bodySrc {
			d := htmltext.Convert(cand, summaryBytes(c.o.SummaryChars))
			text = d.Text
			if image == "" {
				image = d.Image
			}
		}
		if text != "" {
			summary = text
			break
		}
	}
	a.Summary = htmltext.Summary(summary, c.o.SummaryChars)

	a.Title = htmltext.Line(it.Title)
	for _, fallback := range []string{summary, body.Text} {
		if a.Title == "" {
			a.Title = htmltext.TitleFromText(fallback)
		}
	}
	switch {
	case a.Title != "":
	case a.URL != "":
		a.Title = a.URL
	default:
		a.Title = "(untitled)"
	}

	a.Published = itemDate(it)
	if a.Published.IsZero() {
		a.Published = c.o.Now
	}
	a.Author = itemAuthor(it)
	a.Categories = Categories(it.Categories)
	if a.ImageURL = itemImage(it, c.base); a.ImageURL == "" {
		a.ImageURL = c.http(image)
	}
	a.GUID = strings.TrimSpace(it.GUID)
	a.ID = digest.ArticleID(a.GUID, a.URL, a.Title, it.Link)
	return a
}

// summaryBytes is enough text for a summary of chars runes and a title
// derived from it.
func summaryBytes(chars int) int {
	return max(chars*4+16, 1024)
}

// link is the item's absolute link: its link, another of its links, or a
// GUID that is a URL. Links that do not lead to a page (javascript:,
// mailto:) are dropped.
func (c *converter) link(it *gofeed.Item) string {
	u := resolveURL(c.base, it.Link)
	for _, l := range it.Links {
		if u != "" {
			break
		}
		u = resolveURL(c.base, l)
	}
	if guid := strings.TrimSpace(it.GUID); u == "" && IsHTTPURL(guid) {
		u = guid
	}
	if u != "" && !IsHTTPURL(u) && !strings.HasPrefix(u, "file:") {
		return ""
	}
	return u
}

// http resolves raw against the feed and keeps it only as an http(s) URL.
func (c *converter) http(raw string) string {
	if u := resolveURL(c.base, raw); IsHTTPURL(u) {
		return u
	}
	return ""
}

func itemAuthor(it *gofeed.Item) string {
	for _, p := range it.Authors {
		if p == nil {
			continue
		}
		if n := htmltext.Line(p.Name); n != "" {
			return n
		}
		if e := htmltext.Line(p.Email); e != "" {
			return e
		}
	}
	if it.DublinCoreExt != nil {
		for _, c := range it.DublinCoreExt.Creator {
			if n := htmltext.Line(c); n != "" {
				return n
			}
		}
	}
	return ""
}

// itemImage finds an http(s) image for the item: its image, an image
// enclosure, or a media:thumbnail / media:content image (also inside
// media:group).
func itemImage(it *gofeed.Item, base *url.URL) string {
	c := converter{base: base}
	if it.Image != nil {
		if u := c.http(it.Image.URL); u != "" {
			return u
		}
	}
	for _, e := range it.Enclosures {
		if e != nil && strings.HasPrefix(strings.ToLower(e.Type), "image/") {
			if u := c.http(e.URL); u != "" {
				return u
			}
		}
	}
	if media := it.Extensions["media"]; media != nil {
		return mediaImage(media, &c)
	}
	return ""
}

func mediaImage(m map[string][]ext.Extension, c *converter) string {
	for _, th := range m["thumbnail"] {
		if u := c.http(th.Attrs["url"]); u != "" {
			return u
		}
	}
	for _, mc := range m["content"] {
		typ := strings.ToLower(mc.Attrs["type"])
		if mc.Attrs["medium"] == "image" || strings.HasPrefix(typ, "image/") {
			if u := c.http(mc.Attrs["url"]); u != "" {
				return u
			}
		}
		if u := mediaImage(mc.Children, c); u != "" {
			return u
		}
	}
	for _, g := range m["group"] {
		if u := mediaImage(g.Children, c); u != "" {
			return u
		}
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
