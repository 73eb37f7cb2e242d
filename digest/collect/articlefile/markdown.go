package articlefile

import (
	"fmt"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
	"github.com/digest-newsletter/digest/digest/collect/htmltext"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	gmtext "github.com/yuin/goldmark/text"
	"go.yaml.in/yaml/v3"
)

// parseMarkdown reads a Markdown article with optional TOML (+++) or YAML
// (---) front matter.
func parseMarkdown(data []byte, textBytes int) (digest.Article, error) {
	var a digest.Article
	fm, body, err := splitFrontMatter(data)
	if err != nil {
		return a, err
	}
	a.Title = htmltext.Line(fmString(fm, "title"))
	if t, ok := fmTime(fm, "date", "published", "publishdate", "pubdate"); ok {
		a.Published = t
	}
	a.URL = strings.TrimSpace(fmString(fm, "url", "link", "canonical"))
	a.Author = htmltext.Line(fmString(fm, "author", "authors"))
	a.Source = htmltext.Line(fmString(fm, "source", "publication"))
	a.Summary = htmltext.Line(fmString(fm, "summary", "description"))
	a.Categories = feedparse.Categories(fmList(fm, "categories", "topics", "tags"))
	a.ImageURL = strings.TrimSpace(fmString(fm, "image"))
	a.GUID = strings.TrimSpace(fmString(fm, "id", "guid"))

	title, text := markdownToText(body, textBytes)
	if a.Title == "" {
		a.Title = title
	}
	a.Body = digest.NewText(text)
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

// markdownToText walks the Markdown syntax tree (CommonMark, through
// github.com/yuin/goldmark) and keeps its text: blocks become paragraphs,
// links keep their text, images and their alt text go, inline and block
// HTML is reduced to text like any other HTML. The first level-one
// heading is returned as the title (used when the front matter has none)
// and, when it opens the document, left out of the text.
func markdownToText(md string, textBytes int) (title, text string) {
	src := []byte(md)
	doc := goldmark.New().Parser().Parse(gmtext.NewReader(src))
	var b strings.Builder
	block := func() {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
	}
	first := true
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			if n.Type() == ast.TypeBlock {
				block()
			}
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			opens := first && n.Parent() == doc
			if n.Level == 1 && title == "" {
				title = htmltext.Line(inlineText(n, src))
				if opens {
					return ast.WalkSkipChildren, nil
				}
			}
		case *ast.Text:
			b.Write(n.Segment.Value(src))
			if n.SoftLineBreak() || n.HardLineBreak() {
				b.WriteByte('\n')
			}
		case *ast.String:
			b.Write(n.Value)
		case *ast.AutoLink:
			b.Write(n.Label(src))
		case *ast.Image:
			return ast.WalkSkipChildren, nil
		case *ast.RawHTML:
			for i := 0; i < n.Segments.Len(); i++ {
				seg := n.Segments.At(i)
				b.Write(seg.Value(src))
			}
		case *ast.CodeBlock, *ast.FencedCodeBlock, *ast.HTMLBlock:
			lines := n.Lines()
			for i := 0; i < lines.Len(); i++ {
				seg := lines.At(i)
				b.Write(seg.Value(src))
			}
		}
		if n.Type() == ast.TypeBlock && n.Kind() != ast.KindDocument {
			first = false
		}
		return ast.WalkContinue, nil
	})
	// What is left may hold HTML and entities (Markdown allows both).
	return title, htmltext.Convert(b.String(), textBytes).Text
}

// inlineText is the text of a heading, without its markup.
func inlineText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(src))
		case *ast.String:
			b.Write(c.Value)
		case *ast.Image:
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}
