package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/stories"
)

func timing(items []item, sizes string, opts stories.Options, seed uint64) error {
	fmt.Println("grouping time (Merge, then AutoTopics on the stories):")
	var naive1k, merge1k time.Duration
	for _, f := range strings.Split(sizes, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad size %q in -sizes", f)
		}
		arts := synthesise(items, n, seed)
		runtime.GC()
		cpu0 := cpuTime()
		start := time.Now()
		merged := stories.Merge(arts, opts)
		tm := time.Since(start)
		cpu1 := cpuTime()
		topics := stories.AutoTopics(merged, opts)
		total := time.Since(start)
		cpu2 := cpuTime()
		_ = stories.Top(merged, opts)
		fmt.Printf("  %7d articles: %8v wall, %v CPU (merge %v wall/%v CPU -> %d stories; topics %v wall/%v CPU -> %d topics)\n",
			n, total.Round(time.Millisecond), (cpu2 - cpu0).Round(time.Millisecond),
			tm.Round(time.Millisecond), (cpu1 - cpu0).Round(time.Millisecond), len(merged),
			(total - tm).Round(time.Millisecond), (cpu2 - cpu1).Round(time.Millisecond), len(topics))
		if n == 1000 {
			merge1k = tm
			start = time.Now()
			np := naiveMerge(arts, opts)
			naive1k = time.Since(start)
			fmt.Printf("  baseline: naive all-pairs TF-IDF cosine on the same %d articles: %v (%d stories)\n", n, naive1k.Round(time.Millisecond), np)
		}
	}
	if merge1k > 0 {
		fmt.Printf("  merge speed-up over the all-pairs baseline at 1k: %.1fx\n", float64(naive1k)/float64(merge1k))
	}
	return nil
}

// cpuTime is the CPU time this process has used: on a shared machine
// wall time says as much about the neighbours as about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// naiveMerge is the obvious way: a map vector per article, every pair
// compared, union-find over pairs above the threshold. It returns the
// number of stories.
func naiveMerge(arts []digest.Article, opts stories.Options) int {
	thr := opts.MergeThreshold
	if thr == 0 {
		thr = 0.5
	}
	docs := make([]map[string]float64, len(arts))
	df := map[string]int{}
	for i, a := range arts {
		m := map[string]float64{}
		for _, w := range stories.Tokenize(a.Title) {
			m[w] += 3
		}
		body := strings.Fields(a.Body.String())
		if len(body) > 120 {
			body = body[:120]
		}
		for _, w := range stories.Tokenize(strings.Join(body, " ")) {
			m[w]++
		}
		for w := range m {
			df[w]++
		}
		docs[i] = m
	}
	for _, m := range docs {
		var norm float64
		for w, tf := range m {
			m[w] = (1 + math.Log(tf)) * (math.Log(float64(1+len(docs))/float64(1+df[w])) + 1)
			norm += m[w] * m[w]
		}
		norm = math.Sqrt(norm)
		for w := range m {
			m[w] /= norm
		}
	}
	parent := make([]int, len(docs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(x int) int {
		for parent[x] != x {
			x = parent[x]
		}
		return x
	}
	for i := range docs {
		for j := i + 1; j < len(docs); j++ {
			var s float64
			for w, x := range docs[i] {
				s += x * docs[j][w]
			}
			if s >= thr {
				parent[find(i)] = find(j)
			}
		}
	}
	roots := map[int]bool{}
	for i := range docs {
		roots[find(i)] = true
	}
	return len(roots)
}

// synthesise makes n articles from the BBC set: each takes the reworded
// title of one article and a body of sentences sampled from it and from
// another article of the same category, from one of 30 outlets, published
// within a week.
func synthesise(items []item, n int, seed uint64) []digest.Article {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	byCat := map[string][]int{}
	for i, it := range items {
		byCat[it.category] = append(byCat[it.category], i)
	}
	base := time.Date(2005, 3, 1, 0, 0, 0, 0, time.UTC)
	out := make([]digest.Article, n)
	for i := range out {
		a := items[rng.IntN(len(items))]
		same := byCat[a.category]
		b := items[same[rng.IntN(len(same))]]
		sa, sb := sentences(a.text), sentences(b.text)
		var body []string
		for _, s := range sa {
			if rng.Float64() < 0.7 {
				body = append(body, s)
			}
		}
		for _, s := range sb {
			if rng.Float64() < 0.3 {
				at := rng.IntN(len(body) + 1)
				body = slices.Insert(body, at, s)
			}
		}
		it := item{category: a.category, id: fmt.Sprintf("%s-%d", a.id, i), title: reword(a.title, rng), text: strings.Join(body, " ")}
		art := toArticle(it, "Outlet "+strconv.Itoa(rng.IntN(30)), i)
		art.Published = base.Add(-time.Duration(rng.IntN(7*24*60)) * time.Minute)
		out[i] = art
	}
	return out
}
