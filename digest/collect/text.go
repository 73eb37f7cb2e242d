package collect

import (
	"crypto/sha256"
	"encoding/hex"
	"html"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
)

// blockTag matches tags that separate blocks of text. Stripping them
// without a break would glue the last word of one paragraph to the first
// word of the next.
var blockTag = regexp.MustCompile(`(?i)<(/?(?:p|div|br|li|ul|ol|h[1-6]|tr|td|th|dt|dd|blockquote|pre|section|article|header|footer|aside|figure|figcaption|table|hr|main|nav)\b[^>]*)>`)

// tagLike matches what looks like an HTML tag in text.
var tagLike = regexp.MustCompile(`</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>`)

// htmlToText reduces HTML (or plain text that may hold entities) to plain
// text. Paragraph breaks survive as "\n\n" when keepParagraphs is set;
// otherwise all whitespace collapses to single spaces.
//
// A fresh StrictPolicy per call: bluemonday policies are safe for
// concurrent use once built, but keeping one in a package variable would
// be package-level state; building it is cheap next to a sanitising pass.
func htmlToText(s string, keepParagraphs bool) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	// Two rounds: feeds that escape their HTML twice (&lt;b&gt;, &amp;#163;)
	// still hold markup or entities after the first.
	for round := 0; round < 2 && strings.ContainsAny(s, "<&"); round++ {
		if strings.Contains(s, "<") {
			s = blockTag.ReplaceAllString(s, "\n\n<$1>")
			s = bluemonday.StrictPolicy().Sanitize(s)
		}
		// StrictPolicy re-escapes the text it keeps.
		s = html.UnescapeString(s)
		if round > 0 || !tagLike.MatchString(s) {
			// Entities escaped twice (&amp;#163;) decode with one more pass.
			s = html.UnescapeString(s)
			break
		}
	}
	if keepParagraphs {
		return collapseParagraphs(s)
	}
	return collapseSpace(s)
}

// collapseSpace turns every run of whitespace (including no-break spaces)
// into one space and trims the ends.
func collapseSpace(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// collapseParagraphs keeps blank-line-separated paragraphs, collapsing the
// whitespace inside each; single line breaks inside a paragraph become spaces.
func collapseParagraphs(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var paras []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			paras = append(paras, strings.Join(cur, " "))
			cur = cur[:0]
		}
	}
	for _, line := range strings.Split(s, "\n") {
		line = collapseSpace(line)
		if line == "" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return strings.Join(paras, "\n\n")
}

// cleanTitle makes a one-line plain-text title from feed text that may hold
// markup or escaped entities.
func cleanTitle(s string) string {
	return htmlToText(s, false)
}

// Summary reduces HTML or text to plain text and cuts it at a word boundary
// to at most max characters (runes), ending in "…" when cut. max <= 0 means
// no cut.
func Summary(htmlOrText string, max int) string {
	return truncate(htmlToText(htmlOrText, false), max)
}

// truncate cuts plain text s at a word boundary so that the result,
// ellipsis included, has at most max runes.
func truncate(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	if max == 1 {
		return "…"
	}
	runes := []rune(s)
	cut := runes[:max-1]
	// Back up to the last space so no word is split; a single giant word
	// is cut hard rather than dropped.
	if i := lastSpace(cut); i > 0 {
		cut = cut[:i]
	}
	out := strings.TrimRightFunc(string(cut), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) && r != ')' && r != '"' && r != '”'
	})
	if out == "" {
		out = string(runes[:max-1])
	}
	return out + "…"
}

func lastSpace(rs []rune) int {
	for i := len(rs) - 1; i >= 0; i-- {
		if unicode.IsSpace(rs[i]) {
			return i
		}
	}
	return -1
}

// titleFromText derives a title for an untitled item: its first sentence
// when that is short, else its first words.
func titleFromText(text string) string {
	const maxChars = 90
	text = collapseSpace(text)
	if text == "" {
		return ""
	}
	for i, r := range text {
		if i > maxChars*2 {
			break
		}
		if r == '.' || r == '!' || r == '?' {
			end := i + utf8.RuneLen(r)
			if end == len(text) || text[end] == ' ' {
				sentence := text[:end]
				if r == '.' {
					sentence = text[:i]
				}
				if utf8.RuneCountInString(sentence) <= maxChars && utf8.RuneCountInString(sentence) >= 3 {
					return sentence
				}
				break
			}
		}
	}
	return truncate(text, maxChars)
}

// trackingParams are query parameters that only identify a campaign; the
// same article with and without them is the same article.
var trackingParams = map[string]bool{
	"at_medium": true, "at_campaign": true, "at_custom1": true, "at_custom2": true,
	"at_custom3": true, "at_custom4": true, "fbclid": true, "gclid": true,
	"mc_cid": true, "mc_eid": true, "ref": true, "cmpid": true, "ito": true,
}

// canonicalURL normalises a URL for identity: lower-case scheme and host,
// no fragment, no tracking parameters. It returns "" for a URL that does not
// parse or is not absolute.
func canonicalURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Scheme != "file") {
		return ""
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Fragment = ""
	u.RawFragment = ""
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if trackingParams[strings.ToLower(k)] || strings.HasPrefix(strings.ToLower(k), "utm_") {
				q.Del(k)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
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

// isHTTPURL reports whether s is an absolute http(s) URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// hashID identifies an item that has neither GUID nor link.
func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
}
