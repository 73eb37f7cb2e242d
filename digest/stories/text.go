package stories

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenize splits text into lower-case words. It copes with what feeds
// leave behind: HTML tags and (double-)escaped entities are removed, URLs
// are skipped, apostrophes and hyphens split words ("AI-powered" gives
// "ai", "powered"; the possessive "'s" is dropped), a decimal point or
// thousands separator between digits stays inside a number, and runs of
// Han, Hiragana or Katakana (written without spaces) give overlapping
// two-character words. Words of one letter are dropped.
func Tokenize(text string) []string {
	var out []string
	scanWords(text, func(w string) bool {
		out = append(out, strings.ToLower(w))
		return true
	})
	return out
}

// cleanText undoes HTML leftovers and normalises Unicode compatibility
// forms (full-width letters, ligatures) so the same word is one token.
func cleanText(s string) string {
	for i := 0; i < 2 && strings.IndexByte(s, '&') >= 0; i++ {
		u := html.UnescapeString(s)
		if u == s {
			break
		}
		s = u
	}
	if strings.IndexByte(s, '<') >= 0 {
		s = stripTags(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return norm.NFKC.String(s)
		}
	}
	return s
}

// stripTags replaces anything shaped like a tag (<p>, </a>, <br/>,
// <!-- -->) by a space; a lone "<" as in "a < b" stays.
func stripTags(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c == '<' && i+1 < len(s) && (isASCIILetter(s[i+1]) || s[i+1] == '/' || s[i+1] == '!') {
			if j := strings.IndexByte(s[i:], '>'); j > 0 {
				b.WriteByte(' ')
				i += j + 1
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return isASCIILetter(c) || isDigitByte(c)
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)
}

func isIdeographic(r rune) bool {
	if r < 0x3000 {
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// scanWords calls emit with every word of text in its original case until
// emit returns false.
func scanWords(text string, emit func(string) bool) {
	scanPhrases(text, func(w string, _ bool) bool { return emit(w) })
}

// scanPhrases is scanWords that also tells emit whether only spaces
// separate the word from the one before it, so the two may be read as a
// phrase ("Premier League"); punctuation, a line break or a skipped URL
// between them say they may not.
func scanPhrases(text string, emit func(w string, joined bool) bool) {
	s := cleanText(text)
	lastEnd := -1
	for i := 0; i < len(s); {
		// URLs carry slugs that repeat the title and hosts that repeat the
		// source: both would make unrelated items from one site look alike.
		if s[i] == 'h' || s[i] == 'w' || s[i] == 'H' || s[i] == 'W' {
			if n := urlLen(s[i:]); n > 0 {
				i += n
				lastEnd = -1
				continue
			}
		}
		if c := s[i]; c < utf8.RuneSelf && !isASCIILetter(c) && !isDigitByte(c) {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			i += size
			continue
		}
		if isIdeographic(r) {
			var more bool
			if i, more = emitIdeographs(s, i, func(w string) bool { return emit(w, false) }); !more {
				return
			}
			lastEnd = -1
			continue
		}
		start := i
		for i < len(s) {
			if c := s[i]; c < utf8.RuneSelf {
				if isASCIILetter(c) || isDigitByte(c) {
					i++
					continue
				}
				// 4.75 and 1,000 stay one number.
				if (c == '.' || c == ',') && i > start && isDigitByte(s[i-1]) && i+1 < len(s) && isDigitByte(s[i+1]) {
					i++
					continue
				}
				break
			}
			r, size = utf8.DecodeRuneInString(s[i:])
			if isWordRune(r) && !isIdeographic(r) {
				i += size
				continue
			}
			break
		}
		w := s[start:i]
		if strings.IndexByte(w, ',') >= 0 {
			w = strings.ReplaceAll(w, ",", "")
		}
		if utf8.RuneCountInString(w) > 1 {
			if !emit(w, lastEnd >= 0 && onlySpaces(s[lastEnd:start])) {
				return
			}
			lastEnd = i
		}
	}
}

func onlySpaces(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' {
			return false
		}
	}
	return len(s) > 0
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

// urlLen is the length of the URL starting s, or 0.
func urlLen(s string) int {
	if !hasPrefixFold(s, "http://") && !hasPrefixFold(s, "https://") && !hasPrefixFold(s, "www.") {
		return 0
	}
	n := strings.IndexFunc(s, unicode.IsSpace)
	if n < 0 {
		return len(s)
	}
	return n
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// emitIdeographs emits overlapping bigrams of the ideographic run at s[i:]
// and returns the index after it and whether to go on.
func emitIdeographs(s string, i int, emit func(string) bool) (int, bool) {
	var starts []int
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isIdeographic(r) {
			break
		}
		starts = append(starts, i)
		i += size
	}
	starts = append(starts, i)
	if len(starts) == 2 {
		return i, emit(s[starts[0]:starts[1]])
	}
	for k := 0; k+2 < len(starts); k++ {
		if !emit(s[starts[k]:starts[k+2]]) {
			return i, false
		}
	}
	return i, true
}

// englishNewsStopWords complement snowball's English list with words that
// are everywhere in news copy and name no topic.
const englishNewsStopWords = `said says say saying also would could one two three new mr mrs ms dr
told like get got may might must us year years last first people many much
make made well back way still even take going want time however around
added including since yet another next week day days set see need according
among part put come came went know think news article url comments points
via per can cannot will shall whether though although use used using thing
things lot good just really every within without end ll ve re don didn
doesn isn wasn now later earlier`

// analyzer reads words of one language: it tells stop words and stems.
// Its tables are read-only, so the workers reading a batch share it;
// numbering the batch's words is wordTable's job, which stems each
// distinct word once, since stemming rare words otherwise dominates. term
// stems on the spot, for the few words labels need, and is for one
// goroutine.
type analyzer struct {
	lang *language
	// user holds the configured extra stop words; extra adds to them the
	// news words of the language (for English).
	user, extra map[string]bool
	stems       map[string]string
}

func newAnalyzer(lang *language, stopWords []string) *analyzer {
	user := map[string]bool{}
	for _, w := range stopWords {
		for _, t := range Tokenize(w) {
			user[t] = true
		}
	}
	return (&analyzer{user: user}).with(lang)
}

// with is an analyzer of language l with the same extra stop words.
func (a *analyzer) with(l *language) *analyzer {
	b := &analyzer{lang: l, user: a.user, extra: a.user}
	if l.code == "en" {
		b.extra = map[string]bool{}
		for w := range a.user {
			b.extra[w] = true
		}
		for _, w := range strings.Fields(englishNewsStopWords) {
			b.extra[w] = true
		}
	}
	b.stems = map[string]string{}
	return b
}

// stopWord reports a lower-case word that is ignored: a stop word or a
// number of one or two digits.
func (a *analyzer) stopWord(lower string) bool {
	return a.lang.isStop(lower) || a.extra[lower] || smallNumber(lower)
}

// stem returns the stem of a lower-case content word, "" when the stem
// itself is a stop word (some lists name only the stem: "le" for "les").
func (a *analyzer) stem(lower string) string {
	t := lower
	if a.lang.stem != nil {
		t = a.lang.stem(lower, true)
	}
	if a.extra[t] || a.lang.isStop(t) {
		return ""
	}
	return t
}

// term returns the stem of a lower-case word, "" for a stop word.
func (a *analyzer) term(lower string) string {
	if t, ok := a.stems[lower]; ok {
		return t
	}
	t := ""
	if !a.stopWord(lower) {
		t = a.stem(lower)
	}
	a.stems[strings.Clone(lower)] = t
	return t
}

func smallNumber(w string) bool {
	if len(w) > 2 {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !isDigitByte(w[i]) {
			return false
		}
	}
	return true
}

// lowerWord avoids an allocation for words that are already lower case.
func lowerWord(w string) string {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= utf8.RuneSelf || (c >= 'A' && c <= 'Z') {
			return strings.ToLower(w)
		}
	}
	return w
}
