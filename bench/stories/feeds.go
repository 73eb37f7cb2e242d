package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
	"github.com/digest-newsletter/digest/digest/stories"
)

// readFeeds parses every feed file in dir the way collect does; what a
// feed cannot give is left out (the collect tests report it).
func readFeeds(dir string) ([]digest.Article, int, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(names)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var out []digest.Article
	files := 0
	for _, p := range names {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, 0, fmt.Errorf("feeds: %w", err)
		}
		arts, _ := feedparse.Parse(data, "file://"+p, feedparse.Options{Now: now})
		for i := range arts {
			arts[i].Source, arts[i].SourceName = filepath.Base(p), filepath.Base(p)
		}
		out = append(out, arts...)
		files++
	}
	return out, files, nil
}

// feedLabels groups the articles of real feeds as the pipeline does when
// no rule claims them (Merge, then AutoTopics), prints every automatic
// topic's label, and fails when a label holds a stop word of a language
// the articles are in, a number or a single letter.
func feedLabels(dir string, opts stories.Options) error {
	arts, files, err := readFeeds(dir)
	if err != nil {
		return err
	}
	start := time.Now()
	merged := stories.Merge(arts, opts)
	topics := stories.AutoTopics(merged, opts)
	el := time.Since(start)
	count := map[string]int{}
	for _, l := range stories.Languages(merged, opts) {
		count[l]++
	}
	langs := make([]string, 0, len(count))
	for l := range count {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	var shown []string
	for _, l := range langs {
		shown = append(shown, fmt.Sprintf("%s:%d", l, count[l]))
	}
	fmt.Printf("real feeds: %d files, %d articles, %d stories, %d automatic topics in %v; languages %s\n",
		files, len(arts), len(merged), len(topics), el.Round(time.Millisecond), strings.Join(shown, " "))
	var bad []string
	words := 0
	for _, t := range topics {
		fmt.Printf("  %-45q %4d articles  %s\n", t.Name, len(t.Articles), topSources(t.Articles, 3))
		words += len(strings.Fields(strings.ReplaceAll(t.Name, " · ", " ")))
		for _, p := range stories.LabelProblems(t.Name, langs) {
			bad = append(bad, fmt.Sprintf("%q: %s", t.Name, p))
		}
	}
	fmt.Printf("label check: %d labels, %d words; stop words (of %s), numbers or single letters: %d\n",
		len(topics), words, strings.Join(langs, ", "), len(bad))
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Println("  " + b)
		}
		return fmt.Errorf("%d label words are stop words, numbers or single letters", len(bad))
	}
	return nil
}

// topSources names the n sources most of the articles come from.
func topSources(arts []digest.Article, n int) string {
	src := map[string]int{}
	for _, a := range arts {
		src[a.SourceName]++
	}
	names := make([]string, 0, len(src))
	for s := range src {
		names = append(names, s)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(src[b], src[a]), strings.Compare(a, b)) })
	var out []string
	for _, s := range names[:min(n, len(names))] {
		out = append(out, fmt.Sprintf("%s:%d", strings.TrimSuffix(s, filepath.Ext(s)), src[s]))
	}
	return strings.Join(out, " ")
}
