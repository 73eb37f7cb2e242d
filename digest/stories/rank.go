package stories

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
)

// Sources is the number of distinct outlets that reported a story: the
// article's own Source and those in its Also.
func Sources(a digest.Article) int {
	seen := map[string]bool{sourceKey(a.Source, a.SourceName, a.URL): true}
	for _, x := range a.Also {
		seen[sourceKey(x.Source, "", x.URL)] = true
	}
	return len(seen)
}

func sourceKey(source, name, url string) string {
	s := strings.ToLower(strings.TrimSpace(source))
	if s == "" {
		s = strings.ToLower(strings.TrimSpace(name))
	}
	if s == "" {
		s = url
	}
	return s
}

// reference is the time ages are taken from: opts.Now, or when that is
// zero the newest article's time.
func reference(o Options, newest time.Time) time.Time {
	if !o.Now.IsZero() {
		return o.Now
	}
	return newest
}

// score is how prominent a story is: distinct sources × source weight ×
// 2^(-age/RecencyHalfLife); articles without a date count as ten
// half-lives old.
func score(a digest.Article, o Options, now time.Time) float64 {
	halves := 10.0
	if !a.Published.IsZero() {
		age := now.Sub(a.Published)
		halves = max(age.Hours(), 0) / o.RecencyHalfLife.Hours()
	}
	return float64(Sources(a)) * o.weight(a.SourceName) * math.Exp2(-halves)
}

func newestTime(articles []digest.Article) time.Time {
	var t time.Time
	for _, a := range articles {
		if a.Published.After(t) {
			t = a.Published
		}
	}
	return t
}

// Rank orders articles in place by Score, highest first; ties go to the
// more recent, then by title and URL so the order is deterministic.
func Rank(articles []digest.Article, opts Options) {
	o := opts.WithDefaults()
	now := reference(o, newestTime(articles))
	type item struct {
		a digest.Article
		s float64
	}
	items := make([]item, len(articles))
	for i, a := range articles {
		items[i] = item{a, score(a, o, now)}
	}
	slices.SortStableFunc(items, func(x, y item) int {
		return cmp.Or(
			cmp.Compare(y.s, x.s),
			y.a.Published.Compare(x.a.Published),
			strings.Compare(x.a.Title, y.a.Title),
			strings.Compare(x.a.URL, y.a.URL),
		)
	})
	for i := range items {
		articles[i] = items[i].a
	}
}

// Top returns up to TopStories stories covered by at least TopMinSources
// distinct sources, by number of sources, then recency, then source
// weight. The articles are copies; they stay in their topics too.
func Top(articles []digest.Article, opts Options) []digest.Article {
	o := opts.WithDefaults()
	type item struct {
		a digest.Article
		n int
	}
	var items []item
	for _, a := range articles {
		if n := Sources(a); n >= o.TopMinSources {
			items = append(items, item{a, n})
		}
	}
	slices.SortStableFunc(items, func(x, y item) int {
		return cmp.Or(
			cmp.Compare(y.n, x.n),
			y.a.Published.Compare(x.a.Published),
			cmp.Compare(o.weight(y.a.SourceName), o.weight(x.a.SourceName)),
			strings.Compare(x.a.Title, y.a.Title),
			strings.Compare(x.a.URL, y.a.URL),
		)
	})
	if len(items) > o.TopStories {
		items = items[:o.TopStories]
	}
	out := make([]digest.Article, len(items))
	for i, it := range items {
		out[i] = it.a
	}
	return out
}
