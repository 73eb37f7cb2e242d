// Package htmltext reduces the HTML (or entity-laden text) that feeds and
// article files carry to plain text, in one pass of the HTML5 tokenizer
// (golang.org/x/net/html, the tokenizer bluemonday itself runs on).
//
// The rules:
//   - Nothing but text comes out: tags are dropped, and the content of the
//     elements a reader never sees (script, style, iframe, object, noscript,
//     title, template, svg…, bluemonday's skip list plus template and svg)
//     is dropped with them. The result is plain text for templates to
//     escape, never markup, so there is nothing left for an HTML sanitiser
//     to do (TestNoMarkupSurvives checks it against bluemonday).
//   - Entities are decoded; text escaped twice by its feed ("&lt;b&gt;",
//     "&amp;#163;") is decoded again, the way readers expect.
//   - Block elements and blank lines separate paragraphs ("\n\n"); every
//     other run of whitespace, no-break spaces included, is one space.
//   - The src of the first real <img> (not a 1×1 tracking pixel) is
//     reported, so a feed item without a media image still gets one.
//   - A cap stops the pass once enough text is read: the digest never uses
//     more than the first few thousand characters of an article.
package htmltext

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"
)

// Doc is what one pass finds in a piece of HTML.
type Doc struct {
	// Text is plain text; paragraphs are separated by "\n\n".
	Text string
	// Image is the src of the first <img>, as written (the caller resolves
	// it against the page and checks its scheme).
	Image string
	// Cut reports that the text was cut at the cap.
	Cut bool
}

// skipContent are the elements whose content is not text a reader sees.
var skipContent = map[string]bool{
	"frame": true, "frameset": true, "iframe": true, "noembed": true, "noframes": true,
	"noscript": true, "nostyle": true, "object": true, "script": true, "style": true,
	"title": true, "template": true, "svg": true, "math": true, "head": true,
}

// blockTags separate paragraphs: dropping them without a break would glue
// the last word of one paragraph to the first of the next.
var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "ul": true, "ol": true, "h1": true, "h2": true,
	"h3": true, "h4": true, "h5": true, "h6": true, "tr": true, "td": true, "th": true, "dt": true,
	"dd": true, "dl": true, "blockquote": true, "pre": true, "section": true, "article": true,
	"header": true, "footer": true, "aside": true, "figure": true, "figcaption": true,
	"table": true, "hr": true, "main": true, "nav": true, "details": true, "summary": true,
	"address": true, "caption": true,
}

// Convert reduces s to text with paragraphs, reading at most about
// maxBytes bytes of text (0: no cap). The text is cut at a word boundary.
func Convert(s string, maxBytes int) Doc {
	return convert(s, maxBytes, true)
}

// Line reduces s to one line of text: a title, a name, a category.
func Line(s string) string {
	return convert(s, 0, false).Text
}

func convert(s string, maxBytes int, paragraphs bool) Doc {
	if s == "" {
		return Doc{}
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var d Doc
	if !strings.ContainsAny(s, "<&") {
		d.Text, d.Cut = collapse(s, maxBytes, paragraphs)
		return d
	}
	// Feeds escape their markup a second (rarely a third) time: what one
	// pass decodes into something tag-like goes through another pass, and
	// entities left over are decoded once more, so that neither markup nor
	// entities reach the reader.
	img := ""
	for round := 0; ; round++ {
		d = pass(s, maxBytes, paragraphs)
		if d.Image == "" {
			d.Image = img
		}
		img = d.Image
		if round == maxRounds {
			// Escaped more times than any feed does: drop what could
			// still open a tag rather than pass it on.
			if mayHoldTag(d.Text) {
				d.Text = strings.ReplaceAll(d.Text, "<", "")
			}
			return d
		}
		next := d.Text
		if hasEntity(next) {
			next = html.UnescapeString(next)
		}
		if !mayHoldTag(next) {
			d.Text = next
			return d
		}
		s = next
	}
}

const maxRounds = 3

// hasEntity reports whether s holds something an HTML reader would decode
// as a character reference.
func hasEntity(s string) bool {
	for i := strings.IndexByte(s, '&'); i >= 0 && i+1 < len(s); {
		c := s[i+1]
		if c == '#' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return true
		}
		j := strings.IndexByte(s[i+1:], '&')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// mayHoldTag reports whether a tokenizer could read a tag, comment or
// declaration in s.
func mayHoldTag(s string) bool {
	for i := strings.IndexByte(s, '<'); i >= 0 && i+1 < len(s); {
		c := s[i+1]
		if c == '/' || c == '!' || c == '?' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return true
		}
		j := strings.IndexByte(s[i+1:], '<')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// pass is one run of the tokenizer over s.
func pass(s string, maxBytes int, paragraphs bool) Doc {
	var d Doc
	w := writer{max: maxBytes, paragraphs: paragraphs}
	w.b.Grow(min(len(s), max(maxBytes, 64)+64))
	z := xhtml.NewTokenizer(strings.NewReader(s))
	skip := 0 // depth inside skipContent elements
	for !w.full {
		switch z.Next() {
		case xhtml.ErrorToken:
			d.Text, d.Cut = w.String(), w.full
			return d
		case xhtml.TextToken:
			if skip == 0 {
				w.text(z.Text())
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name) // the compiler does not allocate for map keys
			if skipContent[tag] {
				if !isVoidRaw(tag) {
					skip++
				}
				continue
			}
			if blockTags[tag] {
				w.breakPara()
			} else if tag == "img" && d.Image == "" && hasAttr && skip == 0 {
				d.Image = imageSrc(z)
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if skipContent[tag] {
				if skip > 0 {
					skip--
				}
				continue
			}
			if blockTags[tag] {
				w.breakPara()
			}
		}
	}
	d.Text, d.Cut = w.String(), w.full
	return d
}

// isVoidRaw: a <frame> has no end tag, so it opens no skipped region.
func isVoidRaw(tag string) bool { return tag == "frame" }

// imageSrc returns the src of the <img> the tokenizer is on, unless the
// image is a tracking pixel (width or height 0 or 1) or inline data.
func imageSrc(z *xhtml.Tokenizer) string {
	var src string
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "src":
			src = strings.TrimSpace(string(v))
		case "width", "height":
			if n := strings.TrimSpace(string(v)); n == "0" || n == "1" || n == "1px" {
				return ""
			}
		}
		if !more {
			break
		}
	}
	if strings.HasPrefix(src, "data:") {
		return ""
	}
	return src
}

// writer accumulates text, collapsing whitespace as it goes.
type writer struct {
	b          strings.Builder
	max        int
	paragraphs bool
	sep        byte // pending separator: 0, ' ' or '\n'
	full       bool
}

func (w *writer) breakPara() {
	if w.paragraphs {
		w.sep = '\n'
	} else if w.sep == 0 {
		w.sep = ' '
	}
}

// text appends a run of decoded text.
func (w *writer) text(t []byte) {
	newlines := 0
	for i := 0; i < len(t) && !w.full; {
		c := t[i]
		if c < utf8.RuneSelf {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
				w.space(c == '\n', &newlines)
				i++
				continue
			}
			if !w.flush(&newlines) {
				return
			}
			w.b.WriteByte(c)
			i++
			w.checkHard()
			continue
		}
		r, n := utf8.DecodeRune(t[i:])
		if unicode.IsSpace(r) {
			w.space(false, &newlines)
		} else {
			if !w.flush(&newlines) {
				return
			}
			w.b.Write(t[i : i+n])
			w.checkHard()
		}
		i += n
	}
}

func (w *writer) checkHard() {
	if w.max > 0 && w.b.Len() >= w.max+hardCap {
		w.full = true
	}
}

// space records whitespace; two line breaks in one run are a paragraph
// break, as in plain text.
func (w *writer) space(newline bool, newlines *int) {
	if newline {
		*newlines++
		if *newlines >= 2 {
			w.breakPara()
			return
		}
	}
	if w.sep == 0 {
		w.sep = ' '
	}
}

// flush writes the pending separator before a non-space character, and
// stops the writer once the cap is reached, at that word boundary; it
// reports whether the character may be written.
func (w *writer) flush(newlines *int) bool {
	*newlines = 0
	if w.sep == 0 {
		return true
	}
	if w.b.Len() > 0 {
		if w.max > 0 && w.b.Len() >= w.max {
			w.full = true
			return false
		}
		if w.sep == '\n' {
			w.b.WriteString("\n\n")
		} else {
			w.b.WriteByte(' ')
		}
	}
	w.sep = 0
	return true
}

// String is the text, in memory of its own size: an article keeps it for
// the whole run, and the buffer was sized for the HTML it came from.
func (w *writer) String() string {
	if w.b.Cap()-w.b.Len() > 64 {
		return strings.Clone(w.b.String())
	}
	return w.b.String()
}

// hardCap stops a single giant word (a base64 blob pasted as text) from
// running past the cap: it is cut once it overshoots by this much.
const hardCap = 256

// collapse is the pass for text without markup or entities.
func collapse(s string, maxBytes int, paragraphs bool) (string, bool) {
	w := writer{max: maxBytes, paragraphs: paragraphs}
	w.b.Grow(min(len(s), max(maxBytes, 64)+64))
	w.text([]byte(s))
	return w.String(), w.full
}
