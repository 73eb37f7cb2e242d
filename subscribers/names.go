package subscribers

import (
	"regexp"
	"strings"
	"unicode"
)

// maxNameLen bounds the optional name (bytes).
const maxNameLen = 100

// encodedWord matches an RFC 2047 encoded-word. A name typed into a form
// never contains one, but a name that does ends up in a To: header, where
// some mail clients decode it even inside quotes: it could show any text
// (another sender, a warning) in place of the name.
var encodedWord = regexp.MustCompile(`=\?[^?\s]*\?[A-Za-z]?\?[^?\s]*\?=`)

// cleanName makes a name fit for storing and for a To: header: encoded-
// words removed, control and format characters (bidi overrides included)
// replaced, white space collapsed, the length bounded.
func cleanName(s string) string {
	for prev := ""; prev != s; {
		// Removing one can join the halves of another: repeat.
		prev, s = s, encodedWord.ReplaceAllString(s, " ")
	}
	return truncate(oneLine(s), maxNameLen)
}

// oneLine replaces control and format characters with spaces and collapses
// runs of white space.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	return strings.Join(strings.Fields(s), " ")
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
