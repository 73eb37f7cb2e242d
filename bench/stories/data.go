package main

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
)

type item struct {
	category, id, title, text string
}

func toArticle(it item, source string, i int) digest.Article {
	summary := cutWords(it.text, 0.1)
	return digest.Article{
		ID:         it.id,
		Title:      it.title,
		URL:        "https://example.org/" + it.id,
		Source:     source,
		SourceName: source,
		Published:  time.Date(2005, 2, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute),
		Summary:    summary,
		Body:       digest.NewText(it.text),
	}
}

var synonyms = map[string]string{
	"says": "claims", "warns": "cautions", "wins": "takes", "win": "take", "plan": "proposal",
	"plans": "proposals", "rise": "increase", "rises": "climbs", "falls": "drops", "fall": "drop",
	"boost": "lift", "hit": "blow", "new": "fresh", "set": "poised", "to": "will", "over": "about",
	"talks": "negotiations", "deal": "agreement", "firm": "company", "cut": "reduce", "cuts": "reduces",
	"record": "all-time", "bid": "offer", "row": "dispute", "urged": "pressed", "urges": "presses",
	"back": "support", "backs": "supports", "shares": "stocks", "profits": "earnings", "UK": "British",
	"US": "American", "film": "movie", "star": "celebrity", "fans": "supporters", "top": "leading",
	"calls": "demands", "hopes": "expectations", "faces": "confronts", "end": "finish", "big": "major",
}

// reword rewrites a headline the way another outlet might: synonyms, one
// word dropped, a word added in front.
func reword(title string, rng *rand.Rand) string {
	words := strings.Fields(title)
	for i, w := range words {
		if s, ok := synonyms[w]; ok && rng.Float64() < 0.8 {
			words[i] = s
		}
	}
	if len(words) > 3 && rng.Float64() < 0.6 {
		at := rng.IntN(len(words))
		words = slices.Delete(words, at, at+1)
	}
	prefixes := []string{"Report:", "Update:", "Latest:", "Analysis:", "Breaking:"}
	if rng.Float64() < 0.5 {
		words = append([]string{prefixes[rng.IntN(len(prefixes))]}, words...)
	}
	return strings.Join(words, " ")
}

func cutChars(text string, n int) string {
	if len(text) <= n {
		return text
	}
	if i := strings.LastIndexByte(text[:n], ' '); i > 0 {
		return text[:i]
	}
	return text[:n]
}

func cutWords(text string, frac float64) string {
	w := strings.Fields(text)
	return strings.Join(w[:int(math.Ceil(float64(len(w))*frac))], " ")
}

func sentences(text string) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		for _, s := range strings.SplitAfter(para, ". ") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func dropSentences(text string, keep float64, rng *rand.Rand) string {
	ss := sentences(text)
	k := int(math.Ceil(float64(len(ss)) * keep))
	idx := rng.Perm(len(ss))[:k]
	slices.Sort(idx)
	out := make([]string, k)
	for i, x := range idx {
		out[i] = ss[x]
	}
	return strings.Join(out, " ")
}

func readArticles(path string) ([]item, error) {
	rows, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	col, err := columns(path, rows[0], "category", "id", "title", "text")
	if err != nil {
		return nil, err
	}
	var out []item
	for _, r := range rows[1:] {
		out = append(out, item{category: r[col[0]], id: r[col[1]], title: r[col[2]], text: r[col[3]]})
	}
	slices.SortFunc(out, func(a, b item) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

func readPairs(path string) ([][2]string, error) {
	rows, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	col, err := columns(path, rows[0], "id_a", "id_b")
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, r := range rows[1:] {
		out = append(out, [2]string{r[col[0]], r[col[1]]})
	}
	return out, nil
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	var rows [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, rec)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return rows, nil
}

func columns(path string, header []string, names ...string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = slices.Index(header, n)
		if out[i] < 0 {
			return nil, fmt.Errorf("%s: no column %q", path, n)
		}
	}
	return out, nil
}
