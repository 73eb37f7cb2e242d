package articlefile

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/htmltext"
)

// parseText reads a .txt article: a news page saved as text when it has
// that shape (see parseNewsPage), else the first non-empty line as the
// title and the rest as the body.
func parseText(data []byte) (digest.Article, error) {
	lines := textLines(string(data))
	if len(lines) == 0 {
		return digest.Article{}, errors.New("empty file")
	}
	if a, ok := parseNewsPage(lines); ok {
		return a, nil
	}
	var a digest.Article
	a.Title = htmltext.Line(lines[0])
	a.Body = digest.NewText(strings.Join(lines[1:], "\n\n"))
	return a, nil
}

// textLines splits text into its non-empty lines, whitespace-trimmed.
// Lines holding only spaces or no-break spaces (the "empty-space" lines a
// copied web page is full of) count as empty.
func textLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimFunc(l, func(r rune) bool { return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' })
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Footer lines of a saved news page, matched at the start of a line.
var newsFooterPrefixes = []string{
	"profile picture of ",
	"author ",
	"newsletter",
	"get the latest updates",
	"subscribe to our newsletter",
	"share this article",
	"related articles",
}

// parseNewsPage recognises a news page saved as text:
//
//	[section]            e.g. "News" (optional)
//	title
//	publication
//	date line            "Jan. 26, 2025 • 2 min read"
//	"Image of <title> …" image caption (optional)
//	body paragraphs, one of which (a pull quote) appears twice
//	footer               "Profile picture of X", "Author X", "NEWSLETTER", …
//
// It returns ok=false for any other text, which is then read as a plain
// title-and-body file.
func parseNewsPage(lines []string) (digest.Article, bool) {
	var a digest.Article
	// The date line is the anchor: third or fourth non-empty line.
	dateIdx := -1
	for i := 2; i <= 3 && i < len(lines); i++ {
		if t, ok := parseHumanDate(lines[i]); ok && isDateLine(lines[i]) {
			a.Published = t
			dateIdx = i
			break
		}
	}
	if dateIdx < 0 {
		return a, false
	}
	title, pub := lines[dateIdx-2], lines[dateIdx-1]
	if !looksLikeName(pub) || utf8.RuneCountInString(title) > 300 {
		return a, false
	}
	if dateIdx == 3 && !looksLikeName(lines[0]) {
		return a, false
	}
	a.Title = htmltext.Line(title)
	a.Source = htmltext.Line(pub)

	rest := lines[dateIdx+1:]
	if len(rest) > 0 && strings.HasPrefix(strings.ToLower(rest[0]), "image of ") {
		rest = rest[1:]
	}
	// The footer starts at the first footer line; an "Author X" line
	// there names the author.
	end := len(rest)
	for i, l := range rest {
		if isFooterLine(l) {
			end = i
			break
		}
	}
	for _, l := range rest[end:] {
		low := strings.ToLower(l)
		if strings.HasPrefix(low, "author ") && a.Author == "" {
			a.Author = htmltext.Line(l[len("author "):])
		}
	}
	if a.Author == "" {
		for _, l := range rest[end:] {
			if strings.HasPrefix(strings.ToLower(l), "profile picture of ") {
				a.Author = htmltext.Line(l[len("profile picture of "):])
				break
			}
		}
	}
	a.Body = digest.NewText(strings.Join(dropRepeated(rest[:end]), "\n\n"))
	return a, true
}

// isDateLine accepts a date alone or followed by a reading-time or
// separator note, not a sentence that happens to start with a date.
func isDateLine(l string) bool {
	m := humanDate.FindStringIndex(l)
	if m == nil {
		m = dayFirstDate.FindStringIndex(l)
	}
	if m == nil {
		return false
	}
	tail := strings.TrimSpace(l[m[1]:])
	return tail == "" || strings.ContainsAny(tail[:1], "•·|-–—,") || strings.Contains(strings.ToLower(tail), "read")
}

// looksLikeName accepts a short line without sentence punctuation at its
// end: a section or a publication name.
func looksLikeName(l string) bool {
	if utf8.RuneCountInString(l) > 60 {
		return false
	}
	last, _ := utf8.DecodeLastRuneInString(l)
	return last != '.' && last != '?' && last != '!' && last != ':'
}

func isFooterLine(l string) bool {
	low := strings.ToLower(l)
	for _, p := range newsFooterPrefixes {
		if strings.HasPrefix(low, p) {
			// "Author" as a footer line is short; a paragraph that starts
			// with "Author of three books, ..." is body.
			if p == "author " && utf8.RuneCountInString(l) > 60 {
				continue
			}
			if p == "newsletter" && low != p {
				continue
			}
			return true
		}
	}
	return false
}

// dropRepeated removes a paragraph when the same paragraph appears again
// later: the page shows its pull quote near the top and again in the body,
// and the body copy is the one in context.
func dropRepeated(paras []string) []string {
	last := map[string]int{}
	for i, p := range paras {
		last[htmltext.Collapse(p)] = i
	}
	out := make([]string, 0, len(paras))
	for i, p := range paras {
		if last[htmltext.Collapse(p)] > i {
			continue
		}
		out = append(out, htmltext.Collapse(p))
	}
	return out
}
