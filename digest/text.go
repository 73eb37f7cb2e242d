package digest

import (
	"strings"
	"unicode/utf8"

	"github.com/digest-newsletter/digest/digest/spill"
)

// Text is an article's plain text (its Body): held in memory, or, once
// Spill has moved it, in the build's spill file (see package spill), so
// a build's memory does not grow with the text of its articles. The zero
// Text is empty. A spilled text reads as "" once its file is closed.
type Text struct {
	s   string
	f   *spill.File
	off int64
	n   int
}

// NewText holds s in memory.
func NewText(s string) Text { return Text{s: s, n: len(s)} }

// Len is the text's length in bytes.
func (t Text) Len() int { return t.n }

// Blank reports a text of white space only.
func (t Text) Blank() bool {
	// Only texts with more than white space are spilled.
	return t.f == nil && strings.TrimSpace(t.s) == ""
}

// String is the whole text.
func (t Text) String() string { return t.Lead(t.n) }

// Lead is the first max bytes of the text, cut at a character boundary;
// a spilled text reads only those.
func (t Text) Lead(max int) string {
	if max >= t.n {
		max = t.n
	}
	if t.f == nil {
		return CutBytes(t.s, max)
	}
	// One byte more tells whether the cut falls inside a character.
	s, err := t.f.Read(t.off, min(max+1, t.n))
	if err != nil {
		// The file keeps the error for its owner to report; the article
		// goes on with its title and summary.
		return ""
	}
	return CutBytes(s, max)
}

// Spill moves the text to f and returns where it now is; a blank text,
// a nil f and a text f cannot take stay in memory.
func (t Text) Spill(f *spill.File) Text {
	if f == nil || t.f != nil || t.Blank() {
		return t
	}
	off, ok := f.Put(t.s)
	if !ok {
		return t
	}
	return Text{f: f, off: off, n: t.n}
}

// CutBytes cuts s to at most n bytes, at a character boundary.
func CutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
