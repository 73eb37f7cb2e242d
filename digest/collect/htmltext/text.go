package htmltext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Truncate cuts plain text s at a word boundary so that the result,
// ellipsis included, has at most max runes. max <= 0 means no cut.
func Truncate(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	if max == 1 {
		return "…"
	}
	// The byte offset of the (max-1)th rune: only that prefix is looked at.
	end, n := 0, 0
	for i := range s {
		if n == max-1 {
			end = i
			break
		}
		n++
	}
	cut := s[:end]
	// Back up to the last space so no word is split; a single giant word
	// is cut hard rather than dropped.
	if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > 0 {
		cut = cut[:i]
	}
	out := strings.TrimRightFunc(cut, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) && r != ')' && r != '"' && r != '”'
	})
	if out == "" {
		out = s[:end]
	}
	return out + "…"
}

// OneLine joins the paragraphs of text (as Convert returns it) into one
// line.
func OneLine(text string) string {
	if !strings.Contains(text, "\n") {
		return text
	}
	return strings.Join(strings.Fields(text), " ")
}

// Summary is the first max runes of text (as Convert returns it) on one
// line, cut at a word boundary by Truncate. Only the start of a long text
// is looked at.
func Summary(text string, max int) string {
	if max > 0 {
		// max+1 runes fit in this many bytes: enough for Truncate to see
		// that it must cut.
		if end := (max + 1) * utf8.UTFMax; len(text) > end {
			for end > 0 && !utf8.RuneStart(text[end]) {
				end--
			}
			text = text[:end]
		}
	}
	return Truncate(OneLine(text), max)
}

// Collapse turns every run of whitespace (no-break spaces included) into
// one space and trims the ends.
func Collapse(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// TitleFromText derives a title for an untitled item: its first sentence
// when that is short, else its first words.
func TitleFromText(text string) string {
	const maxChars = 90
	if len(text) > 1024 { // the first sentence, if short, is well inside
		end := 1024
		for end > 0 && !utf8.RuneStart(text[end]) {
			end--
		}
		text = text[:end]
	}
	text = OneLine(strings.TrimSpace(text))
	if text == "" {
		return ""
	}
	for i, r := range text {
		if i > maxChars*4 {
			break
		}
		if r == '.' || r == '!' || r == '?' {
			end := i + utf8.RuneLen(r)
			if end == len(text) || text[end] == ' ' {
				sentence := text[:end]
				if r == '.' {
					sentence = text[:i]
				}
				if n := utf8.RuneCountInString(sentence); n <= maxChars && n >= 3 {
					return sentence
				}
				break
			}
		}
	}
	return Truncate(text, maxChars)
}

// Cap cuts plain text to at most about maxBytes bytes, at the last space
// before the cap (or, for one giant word, at a rune boundary). maxBytes
// <= 0 means no cap.
func Cap(s string, maxBytes int) string {
	if maxBytes <= 0 || len(s) <= maxBytes {
		return s
	}
	i := maxBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	cut := s[:i]
	if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > 0 {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(cut, unicode.IsSpace)
}
