package digest

import (
	"strings"
	"unicode"
)

// Rule claims articles for a topic (a [[topics]] entry of the config).
type Rule struct {
	Name       string
	Keywords   []string
	Sources    []string
	Categories []string
}

// MoreTopic is the catch-all for articles no rule claims.
const MoreTopic = "More"

// Weights of a keyword match by where it is found: a word in the headline
// says more about the article than the same word in passing in the body.
const (
	titleWeight   = 3
	summaryWeight = 1
	bodyWeight    = 1
	// sourceWeight and categoryWeight make an explicit source or category
	// rule win over incidental keywords.
	sourceWeight   = 10
	categoryWeight = 5
)

// Grouper assigns articles to rule topics. Build it once per config.
type Grouper struct {
	rules    []Rule
	keywords [][][]string // per rule, per keyword, its words
}

// NewGrouper prepares rules for matching.
func NewGrouper(rules []Rule) *Grouper {
	g := &Grouper{rules: rules, keywords: make([][][]string, len(rules))}
	for i, r := range rules {
		for _, k := range r.Keywords {
			if w := Words(k); len(w) > 0 {
				g.keywords[i] = append(g.keywords[i], w)
			}
		}
	}
	return g
}

// Group puts every article into its best-scoring rule topic, in rule order,
// and returns the unclaimed articles separately. Articles keep their input
// order within a topic; empty topics are left out.
func (g *Grouper) Group(articles []Article) (topics []Topic, unclaimed []Article) {
	buckets := make([][]Article, len(g.rules))
	for _, a := range articles {
		best, bestScore := -1, 0
		w := g.words(a)
		for i := range g.rules {
			if s := g.score(i, a, w); s > bestScore {
				best, bestScore = i, s
			}
		}
		if best < 0 {
			unclaimed = append(unclaimed, a)
			continue
		}
		buckets[best] = append(buckets[best], a)
	}
	for i, r := range g.rules {
		if len(buckets[i]) > 0 {
			topics = append(topics, Topic{Name: r.Name, Articles: buckets[i]})
		}
	}
	return topics, unclaimed
}

// articleWords are an article's words where keywords are looked for.
type articleWords struct{ title, summary, body []string }

// words reads a's words once for all the rules, and not at all when no
// rule has keywords: its body is read from the build's spill file.
func (g *Grouper) words(a Article) *articleWords {
	for _, k := range g.keywords {
		if len(k) > 0 {
			return &articleWords{Words(a.Title), Words(a.Summary), Words(a.Body.String())}
		}
	}
	return nil
}

// score is how strongly rule i claims a, whose words are w; 0 means not
// at all.
func (g *Grouper) score(i int, a Article, w *articleWords) int {
	r := g.rules[i]
	score := 0
	for _, s := range r.Sources {
		if strings.EqualFold(s, a.SourceName) || strings.EqualFold(s, a.Source) {
			score += sourceWeight
		}
	}
	for _, c := range r.Categories {
		for _, ac := range a.Categories {
			if strings.EqualFold(strings.TrimSpace(c), strings.TrimSpace(ac)) {
				score += categoryWeight
			}
		}
	}
	if len(g.keywords[i]) == 0 {
		return score
	}
	for _, kw := range g.keywords[i] {
		score += titleWeight*countPhrase(w.title, kw) + summaryWeight*min(countPhrase(w.summary, kw), 3) + bodyWeight*min(countPhrase(w.body, kw), 3)
	}
	return score
}

// Words splits text into lowercase words of letters and digits, so that
// keyword matching is whole-word and case-insensitive in any script.
func Words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
}

func countPhrase(words, phrase []string) int {
	n := 0
	for i := 0; i+len(phrase) <= len(words); i++ {
		match := true
		for j, w := range phrase {
			if strings.Trim(words[i+j], "'") != w {
				match = false
				break
			}
		}
		if match {
			n++
		}
	}
	return n
}
