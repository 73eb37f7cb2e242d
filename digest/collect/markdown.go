package collect

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/digest-newsletter/digest/digest"
	"go.yaml.in/yaml/v3"
)

// parseMarkdown reads a Markdown article with optional TOML (+++) or YAML
// (---) front matter.
func parseMarkdown(data []byte) (digest.Article, error) {
	var a digest.Article
	fm, body, err := splitFrontMatter(data)
	if err != nil {
		return a, err
	}
	a.Title = cleanTitle(fmString(fm, "title"))
	if t, ok := fmTime(fm, "date", "published", "publishdate", "pubdate"); ok {
		a.Published = t
	}
	a.URL = strings.TrimSpace(fmString(fm, "url", "link", "canonical"))
	a.Author = cleanTitle(fmString(fm, "author", "authors"))
	a.Source = cleanTitle(fmString(fm, "source", "publication"))
	a.Summary = htmlToText(fmString(fm, "summary", "description"), false)
	a.Categories = cleanCategories(fmList(fm, "categories", "topics", "tags"))
	a.ImageURL = strings.TrimSpace(fmString(fm, "image"))
	a.GUID = strings.TrimSpace(fmString(fm, "id", "guid"))

	title, text := markdownToText(body)
	if a.Title == "" {
		a.Title = title
	}
	a.Body = text
	return a, nil
}

// splitFrontMatter separates the front matter from the Markdown body. A
// file without front matter is all body.
func splitFrontMatter(data []byte) (map[string]any, string, error) {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	trimmed := strings.TrimLeft(s, " \t\n")
	var delim string
	switch {
	case strings.HasPrefix(trimmed, "+++\n"):
		delim = "+++"
	case strings.HasPrefix(trimmed, "---\n"):
		delim = "---"
	default:
		return nil, s, nil
	}
	rest := trimmed[len(delim)+1:]
	var head, body string
	if strings.HasPrefix(rest, delim+"\n") || rest == delim {
		head, body = "", strings.TrimPrefix(strings.TrimPrefix(rest, delim), "\n")
	} else {
		end := strings.Index(rest, "\n"+delim+"\n")
		if end < 0 {
			if strings.HasSuffix(rest, "\n"+delim) {
				end = len(rest) - len(delim) - 1
			} else {
				return nil, "", fmt.Errorf("front matter: no closing %s", delim)
			}
		}
		head = rest[:end]
		body = rest[min(len(rest), end+len(delim)+2):]
	}
	fm := map[string]any{}
	if delim == "+++" {
		if _, err := toml.Decode(head, &fm); err != nil {
			return nil, "", fmt.Errorf("front matter (TOML): %w", err)
		}
	} else {
		if err := yaml.Unmarshal([]byte(head), &fm); err != nil {
			return nil, "", fmt.Errorf("front matter (YAML): %w", err)
		}
		if fm == nil {
			fm = map[string]any{}
		}
	}
	// Keys are matched case-insensitively: "Title" and "title" both work.
	lower := make(map[string]any, len(fm))
	for k, v := range fm {
		lower[strings.ToLower(k)] = v
	}
	return lower, body, nil
}

func fmValue(fm map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := fm[k]; ok && v != nil {
			return v
		}
	}
	return nil
}

// fmString reads a string-ish value; a list becomes its items joined by
// ", " (authors = ["A", "B"]), a map its "name".
func fmString(fm map[string]any, keys ...string) string {
	switch v := fmValue(fm, keys...).(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		var parts []string
		for _, x := range v {
			if s := anyString(x); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	default:
		return anyString(v)
	}
}

func anyString(x any) string {
	switch v := x.(type) {
	case string:
		return v
	case map[string]any:
		if n, ok := v["name"].(string); ok {
			return n
		}
		return ""
	case time.Time:
		return v.Format(time.RFC3339)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func fmList(fm map[string]any, keys ...string) []string {
	var out []string
	for _, k := range keys {
		switch v := fm[k].(type) {
		case string:
			out = append(out, strings.Split(v, ",")...)
		case []any:
			for _, x := range v {
				if s := anyString(x); s != "" {
					out = append(out, s)
				}
			}
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

func fmTime(fm map[string]any, keys ...string) (time.Time, bool) {
	switch v := fmValue(fm, keys...).(type) {
	case time.Time:
		return v.UTC(), true
	case string:
		return parseDate(v)
	}
	return time.Time{}, false
}

var (
	mdFence     = regexp.MustCompile("(?m)^\\s*(```|~~~).*$")
	mdImage     = regexp.MustCompile(`!\[([^\]]*)\]\([^)]*\)`)
	mdLink      = regexp.MustCompile(`\[([^\]]+)\]\([^)]*\)`)
	mdRefLink   = regexp.MustCompile(`\[([^\]]+)\]\[[^\]]*\]`)
	mdRefDef    = regexp.MustCompile(`(?m)^\s{0,3}\[[^\]]+\]:\s+\S+.*$`)
	mdHeading   = regexp.MustCompile(`(?m)^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$`)
	mdSetext    = regexp.MustCompile(`(?m)^\s{0,3}(=+|-+)\s*$`)
	mdQuote     = regexp.MustCompile(`(?m)^\s{0,3}>\s?`)
	mdList      = regexp.MustCompile(`(?m)^\s*(?:[-*+]|\d+[.)])\s+`)
	mdRule      = regexp.MustCompile(`(?m)^\s{0,3}([-*_])(\s*[-*_]){2,}\s*$`)
	mdEmphasis  = regexp.MustCompile(`(\*\*|__|\*|_|~~)([^*_~\n]+?)(\*\*|__|\*|_|~~)`)
	mdCode      = regexp.MustCompile("`([^`]*)`")
	mdAutolink  = regexp.MustCompile(`<(https?://[^>\s]+)>`)
	mdFirstHead = regexp.MustCompile(`(?m)^\s{0,3}#\s+(.+?)\s*#*\s*$`)
)

// markdownToText strips the common Markdown syntax; it returns the first
// level-one heading (a title when the front matter has none) and the text,
// paragraphs separated by blank lines. A full Markdown renderer would be
// overkill: the body is only used for grouping and summaries.
func markdownToText(md string) (title, text string) {
	if m := mdFirstHead.FindStringSubmatch(md); m != nil {
		title = cleanTitle(stripInline(m[1]))
	}
	s := mdFence.ReplaceAllString(md, "")
	s = mdRefDef.ReplaceAllString(s, "")
	s = mdRule.ReplaceAllString(s, "")
	s = mdSetext.ReplaceAllString(s, "")
	s = mdHeading.ReplaceAllString(s, "$1\n")
	s = mdQuote.ReplaceAllString(s, "")
	s = mdList.ReplaceAllString(s, "")
	s = stripInline(s)
	text = htmlToText(s, true)
	if title != "" {
		// The heading is the title, not the first paragraph of the body.
		text = strings.TrimSpace(strings.TrimPrefix(text, title))
	}
	return title, text
}

func stripInline(s string) string {
	s = mdImage.ReplaceAllString(s, "")
	s = mdLink.ReplaceAllString(s, "$1")
	s = mdRefLink.ReplaceAllString(s, "$1")
	s = mdAutolink.ReplaceAllString(s, "$1")
	s = mdCode.ReplaceAllString(s, "$1")
	for i := 0; i < 2; i++ { // nested: **_word_**
		s = mdEmphasis.ReplaceAllString(s, "$2")
	}
	return s
}
