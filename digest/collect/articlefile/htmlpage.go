package articlefile

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
	"github.com/digest-newsletter/digest/digest/collect/htmltext"
)

// articleTypes are the schema.org types whose JSON-LD describes the page's
// article.
var articleTypes = map[string]bool{
	"newsarticle": true, "article": true, "blogposting": true, "reportagenewsarticle": true,
	"analysisnewsarticle": true, "opinionnewsarticle": true, "scholarlyarticle": true,
	"techarticle": true, "report": true,
}

// parseHTMLPage reads a saved article page: metadata from JSON-LD,
// OpenGraph and <meta>, text from <article>, else <main>, else <body>.
func parseHTMLPage(data []byte, textBytes int) (digest.Article, error) {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(data))
	if err != nil {
		return digest.Article{}, err
	}
	a := pageMeta(doc)
	doc.Find("script, style, noscript, template, svg, nav, form, iframe").Remove()
	root := doc.Find("article").First()
	if root.Length() == 0 {
		root = doc.Find("main, [role=main]").First()
	}
	if root.Length() == 0 {
		root = doc.Find("body").First()
	}
	// Page chrome inside the chosen root is not the story.
	root.Find("header, footer, aside, figure figcaption, .share, .related").Remove()
	h, _ := root.Html()
	a.Body = digest.NewText(htmltext.Convert(h, textBytes).Text)
	if a.Title != "" {
		a.Body = digest.NewText(strings.TrimSpace(strings.TrimPrefix(a.Body.String(), a.Title)))
	}
	return a, nil
}

// pageMeta reads what a page says about its article: JSON-LD first where
// it is the better source, OpenGraph and <meta>, then the page itself.
func pageMeta(doc *goquery.Document) digest.Article {
	var a digest.Article
	meta := func(keys ...string) string {
		for _, k := range keys {
			var v string
			doc.Find("meta").EachWithBreak(func(_ int, s *goquery.Selection) bool {
				name := strings.ToLower(firstAttr(s, "property", "name", "itemprop"))
				if name == k {
					v = strings.TrimSpace(s.AttrOr("content", ""))
					return v == ""
				}
				return true
			})
			if v != "" {
				return v
			}
		}
		return ""
	}
	ld := jsonLDArticle(doc)

	a.Title = htmltext.Line(firstNonEmpty(
		meta("og:title", "twitter:title"),
		ldString(ld, "headline"), ldString(ld, "name"),
		doc.Find("article h1, main h1, h1").First().Text(),
		doc.Find("title").First().Text(),
	))
	if t, ok := parseDate(firstNonEmpty(
		meta("article:published_time", "datepublished", "date", "pubdate", "dc.date", "dcterms.date", "publish-date"),
		ldString(ld, "datePublished"),
		doc.Find("time[datetime]").First().AttrOr("datetime", ""),
	)); ok {
		a.Published = t
	}
	if a.Published.IsZero() {
		if t, ok := parseDate(firstNonEmpty(meta("article:modified_time", "og:updated_time"), ldString(ld, "dateModified"))); ok {
			a.Published = t
		}
	}
	a.Author = htmltext.Line(firstNonEmpty(
		meta("author", "article:author", "dc.creator", "byl"),
		ldPeople(ld["author"]),
		doc.Find("[rel=author]").First().Text(),
	))
	a.Author = strings.TrimSpace(strings.TrimPrefix(a.Author, "By "))
	a.Source = htmltext.Line(firstNonEmpty(meta("og:site_name", "application-name"), ldPeople(ld["publisher"])))
	a.URL = strings.TrimSpace(firstNonEmpty(
		doc.Find("link[rel=canonical]").First().AttrOr("href", ""),
		meta("og:url"),
		ldString(ld, "url"),
	))
	if !feedparse.IsHTTPURL(a.URL) {
		a.URL = ""
	}
	a.Summary = htmltext.Line(firstNonEmpty(meta("description", "og:description", "twitter:description"), ldString(ld, "description")))
	a.ImageURL = firstNonEmpty(meta("og:image", "twitter:image"), ldImage(ld["image"]))

	var cats []string
	doc.Find(`meta[property="article:tag"], meta[property="article:section"]`).Each(func(_ int, s *goquery.Selection) {
		cats = append(cats, s.AttrOr("content", ""))
	})
	cats = append(cats, ldList(ld["articleSection"])...)
	cats = append(cats, ldList(ld["keywords"])...)
	if len(cats) == 0 {
		cats = append(cats, meta("keywords"))
	}
	a.Categories = feedparse.Categories(cats)
	return a
}

func firstAttr(s *goquery.Selection, names ...string) string {
	for _, n := range names {
		if v, ok := s.Attr(n); ok && v != "" {
			return v
		}
	}
	return ""
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// jsonLDArticle finds the first JSON-LD object whose @type is an article,
// looking into top-level arrays and @graph. Malformed JSON-LD is skipped:
// pages ship broken blocks often enough.
func jsonLDArticle(doc *goquery.Document) map[string]any {
	var found map[string]any
	var visit func(v any, depth int)
	visit = func(v any, depth int) {
		if found != nil || depth > 4 {
			return
		}
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				visit(e, depth+1)
			}
		case map[string]any:
			for _, t := range ldList(x["@type"]) {
				if articleTypes[strings.ToLower(t)] {
					found = x
					return
				}
			}
			visit(x["@graph"], depth+1)
		}
	}
	doc.Find(`script[type="application/ld+json"]`).EachWithBreak(func(_ int, s *goquery.Selection) bool {
		var v any
		if json.Unmarshal([]byte(s.Text()), &v) == nil {
			visit(v, 0)
		}
		return found == nil
	})
	if found == nil {
		return map[string]any{}
	}
	return found
}

func ldString(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			if s, ok := v[0].(string); ok {
				return s
			}
		}
	case map[string]any:
		if s, ok := v["@id"].(string); ok {
			return s
		}
	}
	return ""
}

// ldPeople reads an author or publisher: a string, an object with a name,
// or a list of either (joined with ", ").
func ldPeople(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if n, ok := x["name"].(string); ok {
			return n
		}
	case []any:
		var names []string
		for _, e := range x {
			if n := ldPeople(e); n != "" {
				names = append(names, n)
			}
		}
		return strings.Join(names, ", ")
	}
	return ""
}

func ldImage(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if u, ok := x["url"].(string); ok {
			return u
		}
	case []any:
		for _, e := range x {
			if u := ldImage(e); u != "" {
				return u
			}
		}
	}
	return ""
}

func ldList(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Split(x, ",")
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
