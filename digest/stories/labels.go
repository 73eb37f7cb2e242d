package stories

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/digest-newsletter/digest/digest"
)

// Labels. An automatic topic is named by its LabelTerms best words or
// two-word phrases, as a reader would write them: "Premier League ·
// Arsenal", "Masters · Tiger Woods", not "watching · old · home".
//
//   - A word scores the gap between the share of the topic's articles
//     holding it and the share of the other articles holding it, over
//     titles and bodies, plus the same gap over titles alone when it
//     stands in the titles (twice, in a topic of four or more): the
//     headline says what an article is about.
//   - The score is then weighed by how often the articles that hold the
//     word put it in their headline, so a word every body of a language
//     holds and few headlines do ("mehr", "neue": "more", "new") sinks.
//   - A word written with a capital in running text (a name; in German a
//     noun) counts twice (nameWeight); a word under a fifth of the best
//     score is left out (minShare): a short label beats filler.
//   - A word mostly written next to the same other word, or whose
//     neighbour hardly comes without it, is shown as that phrase ("Premier
//     League", "Tiger Woods"); a word sharing most of its letters with one
//     shown ("Russia" after "Russian") is not shown again.
//   - A word is shown as it is most often written, in lower case when it
//     is now and then written so (a capital may only start a sentence).
//   - No label word is a stop word of any language the batch's articles
//     are in (a label is read by everyone), a configured stop word, a
//     number, or a single letter.

// labeler names the groups of one clustering.
type labeler struct {
	c        *corpus
	vecs     []svec
	articles []digest.Article
	order    []int
	langs    []*language
	readers  map[*language]*analyzer
	an       *analyzer
	o        Options
	// stop holds the stop words of every language the articles are in,
	// and the configured ones: none of them may name a topic.
	stop map[string]bool
	// df and tdf count the articles holding each term in their vectors
	// (title and body) and in their titles.
	df, tdf []int32
}

func newLabeler(c *corpus, vecs []svec, articles []digest.Article, order []int, langs []*language, an *analyzer, o Options) *labeler {
	l := &labeler{c: c, vecs: vecs, articles: articles, order: order, langs: langs, an: an, o: o,
		readers: map[*language]*analyzer{an.lang: an}, stop: map[string]bool{}}
	for _, lang := range langs {
		if _, ok := l.readers[lang]; !ok {
			l.readers[lang] = an.with(lang)
		}
	}
	for _, r := range l.readers {
		for w := range r.lang.stop {
			l.stop[w] = true
		}
		for w := range r.extra {
			l.stop[w] = true
		}
	}
	l.df = make([]int32, c.vocab.len())
	for _, v := range vecs {
		for _, t := range v.idx {
			l.df[t]++
		}
	}
	l.tdf = make([]int32, c.vocab.len())
	stamp := make([]int32, c.vocab.len())
	for i, title := range c.title {
		for _, t := range title {
			if stamp[t] != int32(i+1) {
				stamp[t] = int32(i + 1)
				l.tdf[t]++
			}
		}
	}
	return l
}

// LabelProblems lists, for each word of an automatic topic's name ("Premier
// League · Arsenal") that could not stand in it, why: a stop word of one
// of langs (ISO codes or English names), a number, a single letter.
// AutoTopics makes no such name; the bench and the tests check with this.
func LabelProblems(name string, langs []string) []string {
	var out []string
	for _, part := range strings.Split(name, " · ") {
		for _, w := range strings.Fields(part) {
			switch {
			case utf8.RuneCountInString(w) < 2:
				out = append(out, strconv.Quote(w)+" is a single letter")
				continue
			case strings.IndexFunc(w, unicode.IsLetter) < 0:
				out = append(out, strconv.Quote(w)+" is a number")
				continue
			}
			for _, l := range langs {
				if IsStopWord(l, w) {
					out = append(out, strconv.Quote(w)+" is a stop word of "+l)
					break
				}
			}
		}
	}
	return out
}

// labelWord reports whether a word as shown may name a topic.
func (l *labeler) labelWord(w string) bool {
	if utf8.RuneCountInString(w) < 2 || strings.IndexFunc(w, unicode.IsLetter) < 0 {
		return false
	}
	return !l.stop[strings.ToLower(w)]
}

// names names each group; names are distinct, the first in order of
// groups keeping the plain one.
func (l *labeler) names(groups [][]int) []string {
	names := make([]string, len(groups))
	used := map[string]bool{}
	for g, ms := range groups {
		if len(ms) == 0 {
			continue
		}
		items := l.label(ms)
		k := min(len(items), l.o.LabelTerms)
		name := strings.Join(items[:k], " · ")
		for _, w := range items[k:] {
			if !used[name] {
				break
			}
			name += " · " + w
		}
		if name == "" {
			name = "Other"
		}
		base := name
		for i := 2; used[name]; i++ {
			name = base + " (" + strconv.Itoa(i) + ")"
		}
		used[name] = true
		names[g] = name
	}
	return names
}

// candidate is a term that may name a group.
type candidate struct {
	t     int32
	score float64
	// word is how the term is most often written.
	word string
}

// label returns the words and phrases that name the group with members
// ms, best first, LabelTerms of them and as many again to tell apart two
// groups that would share a name.
func (l *labeler) label(ms []int) []string {
	cands := l.candidates(ms)
	want := 2 * l.o.LabelTerms
	if len(cands) > 3*want {
		cands = cands[:3*want]
	}
	written, phrases := l.surfaceForms(cands, ms)
	for i := range cands {
		f := written[cands[i].t]
		if f == nil {
			cands[i].score = 0
			continue
		}
		cands[i].word = f.best()
		if f.cased() && strings.ToLower(cands[i].word) != cands[i].word {
			cands[i].score *= nameWeight
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(b.score, a.score) })
	byStem := make(map[string]*forms, len(written))
	for t, f := range written {
		byStem[l.c.vocab.word(t)] = f
	}
	// A word never met counts as used always, so no phrase stands for it.
	uses := func(stem string) int {
		if f := byStem[stem]; f != nil {
			return f.total
		}
		return 1 << 30
	}
	strongStems := map[string]bool{}
	for _, x := range cands {
		if x.score > 0 && x.score >= minShare*cands[0].score {
			strongStems[l.c.vocab.word(x.t)] = true
		}
	}
	strong := func(stem string) bool { return strongStems[stem] }
	var items []string
	taken := map[string]bool{} // stems shown already
	// A phrase met only in title-case headlines may be no phrase at all
	// ("What The Rise Means For Mortgages").
	showable := func(p *phrase) bool {
		words := strings.Fields(p.best())
		return p.cased() && !taken[p.a] && !taken[p.b] && len(words) == 2 && l.labelWord(words[0]) && l.labelWord(words[1])
	}
	shown := map[string]bool{} // lower-case words shown already
	for _, x := range cands {
		if len(items) >= want {
			break
		}
		stem := l.c.vocab.word(x.t)
		if taken[stem] || !strong(stem) || !l.labelWord(x.word) {
			continue
		}
		item, parts := x.word, []string{stem}
		if p := phrases.best(stem, uses, strong, showable); p != nil {
			item, parts = p.best(), []string{p.a, p.b}
		}
		key := strings.ToLower(item)
		if shown[key] || l.repeats(key, shown) {
			continue
		}
		for _, word := range strings.Fields(key) {
			shown[word] = true
		}
		shown[key] = true
		for _, s := range parts {
			taken[s] = true
		}
		items = append(items, item)
	}
	return items
}

// minShare: a word scoring below this share of the best one is filler
// ("Цитата · xxx · это" for chat quotes titled "Цитата #17705"); a
// shorter label reads better.
const minShare = 0.2

// nameWeight multiplies the score of a word written with a capital in
// running text: a name ("Arsenal", "Microsoft", "iPhone"), or in German a
// noun, names a topic better than the adverbs and adjectives every
// article of a language shares ("mehr", "neue").
const nameWeight = 2

// repeats reports a word that is another form of one shown already
// ("Russia" after "Russian", "Ukrainian" after "Ukraine"): they share
// their first five letters and most of the shorter one.
func (l *labeler) repeats(key string, shown map[string]bool) bool {
	for _, w := range strings.Fields(key) {
		for s := range shown {
			if sharedPrefix(w, s) >= 5 && 5*sharedPrefix(w, s) >= 4*min(utf8.RuneCountInString(w), utf8.RuneCountInString(s)) {
				return true
			}
		}
	}
	return false
}

// sharedPrefix counts the runes two words start with.
func sharedPrefix(a, b string) int {
	n := 0
	for a != "" && b != "" {
		ra, sa := utf8.DecodeRuneInString(a)
		rb, sb := utf8.DecodeRuneInString(b)
		if ra != rb {
			break
		}
		n++
		a, b = a[sa:], b[sb:]
	}
	return n
}

// candidates scores the terms of the group's articles, best first.
func (l *labeler) candidates(ms []int) []candidate {
	n, m := len(l.vecs), len(ms)
	dfc := map[int32]int32{}
	tdfc := map[int32]int32{}
	for _, pos := range ms {
		for _, t := range l.vecs[pos].idx {
			dfc[t]++
		}
		title := l.c.title[pos]
		for k, t := range title {
			if !slices.Contains(title[:k], t) {
				tdfc[t]++
			}
		}
	}
	gap := func(in, all int32) float64 {
		s := float64(in) / float64(m)
		if n > m {
			s -= float64(all-in) / float64(n-m)
		}
		return s
	}
	minTitle := int32(1)
	if m >= 4 {
		minTitle = 2
	}
	var cands []candidate
	add := func(t int32, s float64) {
		if isNumber(l.c.vocab.word(t)) || s <= 0 {
			return
		}
		if tdfc[t] >= minTitle {
			s += gap(tdfc[t], l.tdf[t])
		}
		// Headlines name what an article is about: a word that fills the
		// bodies of a topic's articles but seldom their headlines ("mehr",
		// "neue", "dass": "more", "new", "that") belongs to their
		// language, not to their subject.
		s *= math.Sqrt(float64(tdfc[t]+1) / float64(max(dfc[t], tdfc[t])+1))
		cands = append(cands, candidate{t: t, score: s})
	}
	for t, x := range dfc {
		add(t, gap(x, l.df[t]))
	}
	// Title words the vectors cut (a rare name) still count.
	for t, x := range tdfc {
		if _, ok := dfc[t]; !ok {
			add(t, gap(x, l.tdf[t]))
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.t, b.t))
	})
	return cands
}

func isNumber(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}
