// Command stories measures story merging and automatic topics on the
// labelled BBC news set (read from a path, never copied into the repo):
// clustering quality (NMI, purity), the merge rate of the set's listed
// near-duplicate pairs, the merge and false-merge rates on synthetic near
// duplicates, and the time to group 1k, 10k and 100k synthesised articles
// against a naive all-pairs merge measured in the same run.
//
//	go run ./bench/stories -news ../shared/testdata/news
package main

import (
	"cmp"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/stories"
	"github.com/digest-newsletter/digest/digest/stories/eval"
)

var (
	show        = flag.Int("show", 0, "print this many merged stories of the BBC set")
	leadWords   = flag.Int("lead", 0, "Options.LeadWords (0: default)")
	titleWeight = flag.Float64("title-weight", 0, "Options.TitleWeight (0: default)")
	threshold   = flag.Float64("threshold", 0, "Options.MergeThreshold (0: default)")
	minTopics   = flag.Int("min-topics", 0, "Options.MinTopics (0: default)")
	maxTopics   = flag.Int("max-topics", 0, "Options.MaxTopics (0: default)")
	sample      = flag.Int("sample", 0, "Options.SampleSize (0: default)")
	restarts    = flag.Int("restarts", 0, "Options.Restarts (0: default)")
	topicSeeds  = flag.Int("topic-seeds", 5, "also cluster with Options.Seed 2..N and print the spread")
)

type item struct {
	category, id, title, text string
}

func main() {
	news := flag.String("news", "", "directory holding bbc-news-articles.csv and bbc-news-near-duplicates.csv")
	sizes := flag.String("sizes", "1000,10000,100000", "article counts to time")
	seed := flag.Uint64("seed", 7, "seed for the synthetic articles")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timing runs to this file")
	flag.Parse()
	if *news == "" {
		fmt.Fprintln(os.Stderr, "stories: -news DIR is required")
		os.Exit(2)
	}
	if err := run(*news, *sizes, *seed, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "stories:", err)
		os.Exit(1)
	}
}

func run(dir, sizes string, seed uint64, cpuprofile string) error {
	items, err := readArticles(filepath.Join(dir, "bbc-news-articles.csv"))
	if err != nil {
		return err
	}
	pairs, err := readPairs(filepath.Join(dir, "bbc-news-near-duplicates.csv"))
	if err != nil {
		return err
	}
	fmt.Printf("BBC set: %d articles, %d listed near-duplicate pairs, GOMAXPROCS=%d\n", len(items), len(pairs), runtime.GOMAXPROCS(0))
	opts := stories.Options{
		Now:            time.Date(2005, 3, 1, 0, 0, 0, 0, time.UTC),
		LeadWords:      *leadWords,
		TitleWeight:    *titleWeight,
		MergeThreshold: *threshold,
		MinTopics:      *minTopics,
		MaxTopics:      *maxTopics,
		SampleSize:     *sample,
		Restarts:       *restarts,
	}

	if cpuprofile == "" {
		quality(items, opts, true)
		if *topicSeeds > 1 {
			minNMI, minPurity, sumNMI, sumPurity := math.Inf(1), math.Inf(1), 0.0, 0.0
			for seed := 1; seed <= *topicSeeds; seed++ {
				o := opts
				o.Seed = int64(seed)
				nmi, purity := quality(items, o, false)
				minNMI, minPurity = min(minNMI, nmi), min(minPurity, purity)
				sumNMI, sumPurity = sumNMI+nmi, sumPurity+purity
			}
			fmt.Printf("  over seeds 1..%d: NMI min %.3f mean %.3f; purity min %.3f mean %.3f\n",
				*topicSeeds, minNMI, sumNMI/float64(*topicSeeds), minPurity, sumPurity/float64(*topicSeeds))
		}
		listedPairs(items, pairs, opts)
		synthetic(items, pairs, opts, seed, false, false)
		synthetic(items, pairs, opts, seed, true, false)
		synthetic(items, pairs, opts, seed, false, true)
		return timing(items, sizes, opts, seed)
	}
	f, err := os.Create(cpuprofile)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	return timing(items, sizes, opts, seed)
}

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
			b.Summary, b.Body = cutChars(b.Body, 280), ""
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
		body := strings.Fields(a.Body)
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
		Body:       it.text,
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
