package stories

import (
	"math/bits"
	"strings"
	"sync"

	"github.com/digest-newsletter/digest/digest"

	"github.com/abadojack/whatlanggo"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/ar"
	"github.com/blevesearch/bleve/v2/analysis/lang/bg"
	"github.com/blevesearch/bleve/v2/analysis/lang/cs"
	"github.com/blevesearch/bleve/v2/analysis/lang/da"
	"github.com/blevesearch/bleve/v2/analysis/lang/de"
	"github.com/blevesearch/bleve/v2/analysis/lang/el"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/es"
	"github.com/blevesearch/bleve/v2/analysis/lang/fa"
	"github.com/blevesearch/bleve/v2/analysis/lang/fi"
	"github.com/blevesearch/bleve/v2/analysis/lang/fr"
	"github.com/blevesearch/bleve/v2/analysis/lang/hi"
	"github.com/blevesearch/bleve/v2/analysis/lang/hu"
	"github.com/blevesearch/bleve/v2/analysis/lang/id"
	"github.com/blevesearch/bleve/v2/analysis/lang/it"
	"github.com/blevesearch/bleve/v2/analysis/lang/nl"
	"github.com/blevesearch/bleve/v2/analysis/lang/no"
	"github.com/blevesearch/bleve/v2/analysis/lang/pl"
	"github.com/blevesearch/bleve/v2/analysis/lang/pt"
	"github.com/blevesearch/bleve/v2/analysis/lang/ro"
	"github.com/blevesearch/bleve/v2/analysis/lang/ru"
	"github.com/blevesearch/bleve/v2/analysis/lang/sv"
	"github.com/blevesearch/bleve/v2/analysis/lang/tr"
	"github.com/kljensen/snowball/english"
	"github.com/kljensen/snowball/french"
	"github.com/kljensen/snowball/hungarian"
	"github.com/kljensen/snowball/norwegian"
	"github.com/kljensen/snowball/russian"
	"github.com/kljensen/snowball/spanish"
	"github.com/kljensen/snowball/swedish"
)

// Languages: every article AutoTopics groups is read with the stop words
// and the stemmer of the language it is written in, so a German report is
// neither grouped nor named by "die", "der" and "von".
//
// The stop words are Lucene's lists (Snowball's, and Jacques Savoy's for
// the languages Snowball lacks) as bleve ships them, for 23 languages; the
// stemmers are Snowball's (kljensen/snowball), for 7. The language of an
// article is told, cheapest first:
//
//  1. by its own words: when the stop words of one language make up a
//     clear share of the first words of its title and text, that language
//     wins the vote (a map look-up per word, a few µs an article);
//  2. by its source: an article too short to vote (a bare headline) takes
//     the language most of its source's voting articles are in;
//  3. by whatlanggo's trigram profiles (84 languages, Urdu and Chinese
//     among them), asked once per source whose articles all failed to
//     vote: a call costs about 0.4 ms, too much for each of 100,000
//     articles;
//  4. else it is read in Options.Language.
//
// Languages without a Lucene list (Urdu, Chinese, …) are told apart from
// the others but keep their stop words: a label in such a language may
// hold one (Urdu "کی", "of").

// language is what reading needs to know of one language.
type language struct {
	// code is the ISO 639-1 code ("en"), or ISO 639-3 when there is none.
	code string
	// name is the English name config files use ("english").
	name string
	// stop holds the lower-case stop words; nil when no list is known.
	stop map[string]bool
	// stem is the Snowball stemmer; nil leaves words as they are.
	stem func(word string, stemStopWords bool) string
	// bit numbers languages with a stop-word list for the vote.
	bit int
}

// isStop reports a lower-case stop word.
func (l *language) isStop(w string) bool { return l.stop[w] }

// stopList names, for each language with one, its Lucene stop-word list.
// bleve's Croatian package is left out: its init builds a stemmer table
// that costs every run of the binary 4 ms and 2 MB of memory.
var stopLists = []struct {
	code, name string
	words      []byte
	stem       func(string, bool) string
}{
	{"ar", "arabic", ar.ArabicStopWords, nil},
	{"bg", "bulgarian", bg.BulgarianStopWords, nil},
	{"cs", "czech", cs.CzechStopWords, nil},
	{"da", "danish", da.DanishStopWords, nil},
	{"de", "german", de.GermanStopWords, nil},
	{"el", "greek", el.GreekStopWords, nil},
	{"en", "english", en.EnglishStopWords, english.Stem},
	{"es", "spanish", es.SpanishStopWords, spanish.Stem},
	{"fa", "persian", fa.PersianStopWords, nil},
	{"fi", "finnish", fi.FinnishStopWords, nil},
	{"fr", "french", fr.FrenchStopWords, french.Stem},
	{"hi", "hindi", hi.HindiStopWords, nil},
	{"hu", "hungarian", hu.HungarianStopWords, hungarian.Stem},
	{"id", "indonesian", id.IndonesianStopWords, nil},
	{"it", "italian", it.ItalianStopWords, nil},
	{"nl", "dutch", nl.DutchStopWords, nil},
	{"no", "norwegian", no.NorwegianStopWords, norwegian.Stem},
	{"pl", "polish", pl.PolishStopWords, nil},
	{"pt", "portuguese", pt.PortugueseStopWords, nil},
	{"ro", "romanian", ro.RomanianStopWords, nil},
	{"ru", "russian", ru.RussianStopWords, russian.Stem},
	{"sv", "swedish", sv.SwedishStopWords, swedish.Stem},
	{"tr", "turkish", tr.TurkishStopWords, nil},
}

// langTable is every language reading knows, built once and read-only
// after: the tables are constants in all but the Go syntax.
type langTable struct {
	byCode map[string]*language
	byName map[string]*language
	// byDetected maps whatlanggo's answer to a language.
	byDetected map[whatlanggo.Lang]*language
	// voted lists the languages with a stop-word list, by bit.
	voted []*language
	// stopOf maps a lower-case word to the languages it is a stop word of.
	stopOf map[string]uint64
}

var languages = sync.OnceValue(newLangTable)

func newLangTable() *langTable {
	t := &langTable{
		byCode:     map[string]*language{},
		byName:     map[string]*language{},
		byDetected: map[whatlanggo.Lang]*language{},
		stopOf:     map[string]uint64{},
	}
	for _, s := range stopLists {
		words := analysis.NewTokenMap()
		// LoadBytes fails only on a read error, impossible on a slice.
		_ = words.LoadBytes(s.words)
		l := &language{code: s.code, name: s.name, stop: make(map[string]bool, len(words)), stem: s.stem, bit: len(t.voted)}
		for w := range words {
			w = strings.ToLower(w)
			l.stop[w] = true
			t.stopOf[w] |= 1 << l.bit
		}
		t.voted = append(t.voted, l)
		t.byCode[l.code], t.byName[l.name] = l, l
	}
	// whatlanggo's numbering runs from Afr to Zul; every language it can
	// answer gets an entry, with no stop words where Lucene has none
	// (Urdu, Chinese, …), so articles in it are told apart from the rest.
	for wl := whatlanggo.Afr; wl <= whatlanggo.Zul; wl++ {
		code := wl.Iso6391()
		switch code {
		case "":
			code = wl.Iso6393()
		case "nb", "nn":
			code = "no"
		}
		l := t.byCode[code]
		if l == nil {
			l = &language{code: code, name: strings.ToLower(wl.String()), bit: -1}
			t.byCode[code], t.byName[l.name] = l, l
		}
		t.byDetected[wl] = l
	}
	return t
}

// named finds a language by English name or ISO code; unknown names get a
// language with no stop words and no stemmer, so a newsletter in a
// language nobody listed still works, unstemmed.
func (t *langTable) named(name string) *language {
	name = strings.ToLower(strings.TrimSpace(name))
	if l := t.byName[name]; l != nil {
		return l
	}
	if l := t.byCode[name]; l != nil {
		return l
	}
	return &language{code: name, name: name, bit: -1}
}

// A vote reads at most voteSampleBytes of the text after the title, and
// at most voteWords words of it.
const (
	voteSampleBytes = 400
	voteWords       = 48
)

// vote returns the language whose stop words make up a clear share of the
// first words of title and text, nil when none does: at least voteMinHits
// of them, an eighth of the words read, and either twice as many as any
// other language's or three more. Text in a language is full of its own
// stop words and holds a few of its neighbours' ("in", "of" and "is" are
// Dutch too).
func (t *langTable) vote(title, text string) *language {
	var hits [64]int
	var seen uint64
	words := 0
	var buf [64]byte
	count := func(w string) bool {
		words++
		if m := t.stopOf[string(appendLower(buf[:0], w))]; m != 0 {
			seen |= m
			for ; m != 0; m &= m - 1 {
				hits[bits.TrailingZeros64(m)]++
			}
		}
		return words < voteWords
	}
	scanWords(title, count)
	if words < voteWords {
		scanWords(digest.CutBytes(text, voteSampleBytes), count)
	}
	best, second := -1, 0
	for m := seen; m != 0; m &= m - 1 {
		b := bits.TrailingZeros64(m)
		if best < 0 || hits[b] > hits[best] {
			if best >= 0 {
				second = hits[best]
			}
			best = b
		} else if hits[b] > second {
			second = hits[b]
		}
	}
	if best < 0 || hits[best] < voteMinHits || 8*hits[best] < words || (hits[best] < 2*second && hits[best] < second+3) {
		return nil
	}
	return t.voted[best]
}

// trigrams asks whatlanggo, nil when it is not sure. Its answer is
// trusted for a language with a stop-word list only when the text holds at
// least one of them: prose in such a language would have won the vote,
// and text without a single stop word (bare headlines, lists of names) is
// where trigram profiles guess.
func (t *langTable) trigrams(text string) *language {
	info := whatlanggo.Detect(text)
	if info.Lang < 0 || !info.IsReliable() {
		return nil
	}
	l := t.byDetected[info.Lang]
	if l == nil || l.stop == nil {
		return l
	}
	found := false
	var buf [64]byte
	scanWords(text, func(w string) bool {
		found = l.stop[string(appendLower(buf[:0], w))]
		return !found
	})
	if !found {
		return nil
	}
	return l
}

// detectAll returns the language of every document: its own vote; else
// the language most of its source's voted documents are in (a feed
// mostly keeps to one language, and a bare headline carries too few stop
// words to vote); else what whatlanggo makes of a sample of the source's
// undecided documents, asked once per source since it costs about 0.4 ms
// a call; else def.
func (t *langTable) detectAll(n int, text func(i int) (source, title, body string), def *language, workers int) []*language {
	langs := make([]*language, n)
	parallelFor(n, workers, func(lo, hi, _ int) {
		for i := lo; i < hi; i++ {
			_, title, body := text(i)
			langs[i] = t.vote(title, body)
		}
	})
	type tally struct {
		votes     map[*language]int
		undecided []int
	}
	bySource := map[string]*tally{}
	var sources []string
	for i := range n {
		src, _, _ := text(i)
		s := bySource[src]
		if s == nil {
			s = &tally{votes: map[*language]int{}}
			bySource[src] = s
			sources = append(sources, src)
		}
		if langs[i] != nil {
			s.votes[langs[i]]++
		} else {
			s.undecided = append(s.undecided, i)
		}
	}
	for _, src := range sources {
		s := bySource[src]
		if len(s.undecided) == 0 {
			continue
		}
		var l *language
		for cand, v := range s.votes {
			if l == nil || v > s.votes[l] || (v == s.votes[l] && cand.code < l.code) {
				l = cand
			}
		}
		if l == nil {
			var sample strings.Builder
			for _, i := range s.undecided {
				if sample.Len() >= 2*voteSampleBytes {
					break
				}
				_, title, body := text(i)
				sample.WriteString(title + "\n" + digest.CutBytes(body, voteSampleBytes/2) + "\n")
			}
			l = t.trigrams(sample.String())
		}
		if l == nil {
			l = def
		}
		for _, i := range s.undecided {
			langs[i] = l
		}
	}
	return langs
}

// voteMinHits is the fewest stop words that place a text by vote.
const voteMinHits = 3

// appendLower appends the lower case of w to dst.
func appendLower(dst []byte, w string) []byte {
	for i := 0; i < len(w); i++ {
		if w[i] >= 0x80 {
			return append(dst, strings.ToLower(w)...)
		}
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// Languages returns the language AutoTopics reads each article in (ISO
// 639-1 codes, in input order): its own, else its source's, else
// opts.Language.
func Languages(articles []digest.Article, opts Options) []string {
	o := opts.WithDefaults()
	tab := languages()
	ls := tab.detectAll(len(articles), func(i int) (string, string, string) {
		a := &articles[i]
		return a.SourceName, a.Title, lead(a, voteSampleBytes)
	}, tab.named(o.Language), workerCount(o, len(articles)))
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.code
	}
	return out
}

// IsStopWord reports whether word (any case) is a stop word of the
// language named by an ISO code or English name; false for a language
// without a list.
func IsStopWord(lang, word string) bool {
	return languages().named(lang).isStop(strings.ToLower(word))
}
