package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/stories"
	"github.com/digest-newsletter/digest/digest/stories/eval"
)

// quality clusters every article with no rules and compares to the labels.
func quality(items []item, opts stories.Options, verbose bool) (nmi, purity float64) {
	arts := make([]digest.Article, len(items))
	for i, it := range items {
		arts[i] = toArticle(it, "BBC", i)
	}
	start := time.Now()
	topics := stories.AutoTopics(arts, opts)
	el := time.Since(start)
	label := map[string]string{}
	for _, it := range items {
		label[it.id] = it.category
	}
	var truth, pred []string
	for _, t := range topics {
		cats := map[string]int{}
		for _, a := range t.Articles {
			truth = append(truth, label[a.ID])
			pred = append(pred, t.Name)
			cats[label[a.ID]]++
		}
		if verbose {
			fmt.Printf("  topic %-45q %4d articles %v\n", t.Name, len(t.Articles), cats)
		}
	}
	nmi, purity = eval.NMIPurity(truth, pred)
	if verbose {
		fmt.Printf("automatic topics (seed %d): %d topics in %v; NMI %.3f (target >= 0.6), purity %.3f (target >= 0.8)\n",
			max(opts.Seed, 1), len(topics), el.Round(time.Millisecond), nmi, purity)
	} else {
		fmt.Printf("  seed %d: %d topics, NMI %.3f, purity %.3f\n", opts.Seed, len(topics), nmi, purity)
	}
	return nmi, purity
}

// story maps each article ID to the ID of the representative it ended in.
func story(out []digest.Article, byURL map[string]string) map[string]string {
	m := map[string]string{}
	for _, a := range out {
		m[a.ID] = a.ID
		for _, x := range a.Also {
			m[byURL[x.URL]] = a.ID
		}
	}
	return m
}

func listedPairs(items []item, pairs [][2]string, opts stories.Options) {
	arts := make([]digest.Article, len(items))
	byURL := map[string]string{}
	for i, it := range items {
		arts[i] = toArticle(it, "Outlet "+strconv.Itoa(i%30), i)
		byURL[arts[i].URL] = arts[i].ID
	}
	start := time.Now()
	out := stories.Merge(arts, opts)
	el := time.Since(start)
	st := story(out, byURL)
	merged := 0
	for _, p := range pairs {
		if st[p[0]] != "" && st[p[0]] == st[p[1]] {
			merged++
		}
	}
	fmt.Printf("listed near-duplicate pairs merged: %d/%d = %.1f%% (Merge of %d articles in %v, %d stories)\n",
		merged, len(pairs), 100*float64(merged)/float64(len(pairs)), len(arts), el.Round(time.Millisecond), len(out))
	wrong := falseMerges(out, byURL, pairs, nil)
	if *show > 0 {
		title := map[string]string{}
		for _, a := range arts {
			title[a.URL] = a.Title
		}
		shown := 0
		for _, a := range out {
			if len(a.Also) > 0 && shown < *show {
				shown++
				fmt.Printf("    %q\n", a.Title)
				for _, x := range a.Also {
					fmt.Printf("      + %q\n", x.Title)
				}
			}
		}
	}
	fmt.Printf("  originals merged with an unlisted original: %d/%d = %.2f%%\n", wrong, len(items), 100*float64(wrong)/float64(len(items)))
}

// falseMerges counts originals that share a story with another original
// that is not their listed near duplicate (variants map back to their
// original through orig).
func falseMerges(out []digest.Article, byURL map[string]string, pairs [][2]string, orig map[string]string) int {
	listed := map[[2]string]bool{}
	for _, p := range pairs {
		listed[p] = true
		listed[[2]string{p[1], p[0]}] = true
	}
	base := func(id string) string {
		if o, ok := orig[id]; ok {
			return o
		}
		return id
	}
	bad := map[string]bool{}
	for _, a := range out {
		ids := []string{base(a.ID)}
		for _, x := range a.Also {
			ids = append(ids, base(byURL[x.URL]))
		}
		for _, x := range ids {
			for _, y := range ids {
				if x != y && !listed[[2]string{x, y}] {
					bad[x] = true
				}
			}
		}
	}
	return len(bad)
}

// synthetic adds to every article a variant with a reworded title and 80 %
// of its body (the first 80 % of words, or with hard set, 80 % of its
// sentences chosen at random), each from another outlet, and measures how
// many variants merge with their original and how many originals merge
// with a different story.
func synthetic(items []item, pairs [][2]string, opts stories.Options, seed uint64, hard, summaries bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var arts []digest.Article
	byURL := map[string]string{}
	orig := map[string]string{}
	for i, it := range items {
		a := toArticle(it, "Outlet A", i)
		v := it
		v.id = it.id + "~variant"
		v.title = reword(it.title, rng)
		if hard {
			v.text = dropSentences(it.text, 0.8, rng)
		} else {
			v.text = cutWords(it.text, 0.8)
		}
		b := toArticle(v, "Outlet B", i)
		if summaries {
			// A feed that gives only a summary: the first 280 characters.
			b.Summary, b.Body = cutChars(b.Body.String(), 280), digest.Text{}
		}
		arts = append(arts, a, b)
		byURL[a.URL], byURL[b.URL] = a.ID, b.ID
		orig[b.ID] = it.id
	}
	start := time.Now()
	out := stories.Merge(arts, opts)
	el := time.Since(start)
	st := story(out, byURL)
	merged := 0
	for _, it := range items {
		if st[it.id] == st[it.id+"~variant"] {
			merged++
		}
	}
	wrong := falseMerges(out, byURL, pairs, orig)
	kind := "title reworded, body cut to its first 80% of words"
	if hard {
		kind = "title reworded, 80% of sentences kept at random"
	}
	if summaries {
		kind = "title reworded, only a 280-character summary"
	}
	fmt.Printf("synthetic near duplicates (%s):\n  merged %d/%d = %.1f%% (target >= 90%%); distinct articles wrongly merged %d/%d = %.2f%% (target <= 1%%); %v for %d articles\n",
		kind, merged, len(items), 100*float64(merged)/float64(len(items)), wrong, len(items), 100*float64(wrong)/float64(len(items)), el.Round(time.Millisecond), len(arts))
}
