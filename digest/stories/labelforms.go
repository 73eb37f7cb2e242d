package stories

// How label words are written: the forms a word takes in a topic's
// articles, and the phrases it stands in.

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// forms counts how one stem or phrase is written. Headlines In Title
// Case say nothing of how a word is written: they count only for a word
// met nowhere else (titled).
type forms struct {
	count, titled map[string]int
	total         int
}

// add counts one use of w; titleCase says it stood in a title-case
// headline.
func (f *forms) add(w string, titleCase bool) {
	m := &f.count
	if titleCase {
		m = &f.titled
	}
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[w]++
	f.total++
}

// cased reports whether the forms show how the word is written, not only
// how title-case headlines write it.
func (f *forms) cased() bool { return len(f.count) > 0 }

// best is the most frequent written form; the lower-case one when it is a
// quarter as frequent: a capital may only mark the start of a sentence or
// a headline, and a word also written in lower case is a common word.
func (f *forms) best() string {
	if f == nil {
		return ""
	}
	m := f.count
	if len(m) == 0 {
		m = f.titled
	}
	best, bn := "", 0
	lower, ln := "", 0
	for w, k := range m {
		if k > bn || (k == bn && w > best) {
			best, bn = w, k
		}
		if strings.ToLower(w) == w && (k > ln || (k == ln && w > lower)) {
			lower, ln = w, k
		}
	}
	if ln > 0 && 4*ln >= bn {
		return lower
	}
	return best
}

// titleCase reports a headline Written In Title Case: four words in five
// start with a capital (of at least three words in a script with case).
func titleCase(title string) bool {
	words, upper := 0, 0
	scanWords(title, func(w string) bool {
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsUpper(r) || unicode.IsLower(r) {
			words++
			if unicode.IsUpper(r) {
				upper++
			}
		}
		return true
	})
	return words >= 3 && 5*upper >= 4*words
}

// phrase is two neighbouring content words, by stem.
type phrase struct {
	a, b string
	forms
}

func (p *phrase) other(stem string) string {
	if p.a == stem {
		return p.b
	}
	return p.a
}

// phraseCounts holds the phrases met around the candidate stems.
type phraseCounts map[[2]string]*phrase

// best is the most frequent phrase holding stem (two uses at least) that
// holds half of stem's uses ("Premier League" for "League"), or half of
// the uses of its other word when that word names the topic as well
// ("Tiger Woods" for "Woods", "Tiger" hardly ever coming alone); nil when
// none does. ok vets a phrase.
func (pc phraseCounts) best(stem string, uses func(string) int, strong func(string) bool, ok func(*phrase) bool) *phrase {
	var best *phrase
	for _, p := range pc {
		if (p.a != stem && p.b != stem) || p.total < 2 || !ok(p) {
			continue
		}
		other := p.other(stem)
		if 2*p.total < uses(stem) && (!strong(other) || 2*p.total < uses(other)) {
			continue
		}
		if best == nil || p.total > best.total || (p.total == best.total && p.a+" "+p.b < best.a+" "+best.b) {
			best = p
		}
	}
	return best
}

// surfaceForms reads the titles and leads of the group's articles for
// how each candidate is written and which phrases hold it: for each
// candidate, best first, up to formUses of the articles that hold it,
// formDocs articles in all.
func (l *labeler) surfaceForms(cands []candidate, members []int) (map[int32]*forms, phraseCounts) {
	const formDocs, formUses, leadWords = 60, 20, 200
	want := make(map[string]int32, len(cands))
	for _, x := range cands {
		want[l.c.vocab.word(x.t)] = x.t
	}
	out := map[int32]*forms{}
	phrases := phraseCounts{}
	holds := func(pos int, t int32) bool {
		_, inBody := slices.BinarySearch(l.vecs[pos].idx, t)
		return inBody || slices.Contains(l.c.title[pos], t)
	}
	read := map[int]bool{}
	var order []int
	for _, x := range cands {
		met := 0
		for _, pos := range members {
			if len(order) >= formDocs || met >= formUses {
				break
			}
			if holds(pos, x.t) {
				met++
				if !read[pos] {
					read[pos] = true
					order = append(order, pos)
				}
			}
		}
	}
	slices.Sort(order)
	for _, pos := range order {
		a := &l.articles[l.order[pos]]
		r := l.readers[l.langs[pos]]
		for k, text := range []string{a.Title, lead(a, leadWords*leadBytesPerWord)} {
			tc := k == 0 && titleCase(text)
			seen := 0
			prevStem, prevWord := "", ""
			scanPhrases(text, func(w string, joined bool) bool {
				seen++
				stem := r.term(lowerWord(w))
				t, isCand := want[stem]
				if isCand {
					f := out[t]
					if f == nil {
						f = &forms{}
						out[t] = f
					}
					f.add(w, tc)
				}
				if _, prevCand := want[prevStem]; joined && stem != "" && prevStem != "" && stem != prevStem && (isCand || prevCand) {
					k := [2]string{prevStem, stem}
					p := phrases[k]
					if p == nil {
						p = &phrase{a: prevStem, b: stem}
						phrases[k] = p
					}
					p.add(prevWord+" "+w, tc)
				}
				prevStem, prevWord = stem, w
				return seen < leadWords
			})
		}
	}
	return out, phrases
}
