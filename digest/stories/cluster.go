package stories

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/digest-newsletter/digest/digest"
)

// clusterTitleWeight counts a title word as much as two body words: the
// headline says what the article is about, the body also says much else.
const clusterTitleWeight = 2

// AutoTopics clusters articles into between MinTopics and MaxTopics
// labelled topics (fewer when there are too few articles: at most one
// topic per MinTopicArticles articles, and one topic for a handful).
//
// Articles become TF-IDF vectors of title and body, cut to their
// ClusterTerms heaviest terms found in at least two articles. Spherical
// k-means (k-means++ seeding, fixed seed, best of Restarts) runs on a
// sample of at most SampleSize articles for every k in the bounds; the k
// with the best silhouette (cosine distance, on a sub-sample of
// silhouetteSample articles) wins, and its centroids seed the run over all
// articles. Each article is read in its own language (language.go), and
// each topic is named by its LabelTerms best words or two-word phrases
// (labels.go). Topics come largest first, articles in Rank order.
//
// The topics' articles are articles itself, reordered in place: the
// caller hands the batch over.
func AutoTopics(articles []digest.Article, opts Options) []digest.Topic {
	o := opts.WithDefaults()
	n := len(articles)
	if n == 0 {
		return nil
	}
	order := canonicalOrder(articles)
	workers := workerCount(o, n)
	tab := languages()
	an := newAnalyzer(tab.named(o.Language), o.StopWords)
	langs := tab.detectAll(n, func(i int) (string, string, string) {
		a := &articles[order[i]]
		return a.SourceName, a.Title, lead(a, voteSampleBytes)
	}, an.lang, workers)
	c, vecs := clusterVectors(articles, order, langs, an, o, workers)

	maxK := min(o.MaxTopics, n/o.MinTopicArticles)
	minK := min(o.MinTopics, maxK)
	var assign []int32
	if maxK < 2 {
		assign = make([]int32, n)
	} else {
		full, dim := compact(vecs)
		assign = chooseClusters(vecs, dim, minK, maxK, o, workers)
		expand(vecs, full)
	}

	k := 0
	for _, a := range assign {
		k = max(k, int(a)+1)
	}
	groups := make([][]int, k)
	for i, a := range assign {
		groups[a] = append(groups[a], i)
	}
	// Labels ask which terms an article holds, not their weights.
	for i := range vecs {
		vecs[i].val = nil
	}
	names := newLabeler(c, vecs, articles, order, langs, an, o).names(groups)
	// The topics are runs of articles itself, put in group order: a copy
	// of every article would double what the batch holds at its end.
	var dest []int
	var topics []digest.Topic
	for g, ms := range groups {
		if len(ms) == 0 {
			continue
		}
		start := len(dest)
		for _, pos := range ms {
			dest = append(dest, order[pos])
		}
		topics = append(topics, digest.Topic{Name: names[g], Auto: true, Articles: articles[start:len(dest):len(dest)]})
	}
	permute(articles, dest)
	for _, t := range topics {
		Rank(t.Articles, o)
	}
	slices.SortStableFunc(topics, func(a, b digest.Topic) int {
		return cmp.Or(cmp.Compare(len(b.Articles), len(a.Articles)), strings.Compare(a.Name, b.Name))
	})
	return topics
}

// permute reorders a in place so that a[i] becomes what a[from[i]] was
// (from is a permutation), following its cycles.
func permute(a []digest.Article, from []int) {
	done := make([]bool, len(a))
	for i := range a {
		if done[i] || from[i] == i {
			continue
		}
		tmp := a[i]
		j := i
		for from[j] != i {
			a[j] = a[from[j]]
			done[j] = true
			j = from[j]
		}
		a[j] = tmp
		done[j] = true
	}
}

// compact renumbers, in place, the terms the vectors use as 0..dim-1, in
// the same order, so centroids are as small as the terms that matter;
// full[x] is the term numbered x, for expand to undo it.
func compact(vecs []svec) (full []int32, dim int) {
	maxT := int32(-1)
	for _, v := range vecs {
		if len(v.idx) > 0 {
			maxT = max(maxT, v.idx[len(v.idx)-1])
		}
	}
	id := make([]int32, maxT+1)
	for _, v := range vecs {
		for _, t := range v.idx {
			id[t] = 1
		}
	}
	for t, used := range id {
		if used != 0 {
			id[t] = int32(len(full))
			full = append(full, int32(t))
		}
	}
	for _, v := range vecs {
		for k, t := range v.idx {
			v.idx[k] = id[t]
		}
	}
	return full, len(full)
}

// expand gives compacted vectors their terms back.
func expand(vecs []svec, full []int32) {
	for _, v := range vecs {
		for k, x := range v.idx {
			v.idx[k] = full[x]
		}
	}
}

// chooseClusters picks k in [minK,maxK] on a sample and returns every
// document's cluster.
func chooseClusters(vecs []svec, vocab, minK, maxK int, o Options, workers int) []int32 {
	n := len(vecs)
	sample := make([]int, n)
	for i := range sample {
		sample[i] = i
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5a3b1e))
	rng.Shuffle(n, func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	sample = sample[:min(n, o.SampleSize)]
	sv := make([]svec, len(sample))
	for i, s := range sample {
		sv[i] = vecs[s]
	}
	// The sample uses a fraction of the terms: numbered on their own,
	// its centroids are that much smaller. Renumbering keeps the terms'
	// order, so every sum runs as before and the results are the same.
	sv, full := renumber(sv)
	dim := len(full)

	bestOfK, runs := candidates(sv, dim, minK, maxK, o, workers)
	sil := newSilhouette(sv, min(len(sv), silhouetteSample), dim)
	var best *kmResult
	bestRun := 0
	bestScore := math.Inf(-1)
	for b, r := range bestOfK {
		if s := sil.score(r.assign, r.k); s > bestScore {
			best, bestRun, bestScore = r, runs[b], s
		}
	}
	if len(sample) == n {
		assign := make([]int32, n)
		for i, s := range sample {
			assign[s] = best.assign[i]
		}
		return assign
	}
	// Back to every term: the rows of terms the sample lacks stay zero,
	// as they were.
	k := best.k
	best = sampleRun(sv, dim, k, bestRun, o)
	cent := make([]float32, vocab*k)
	for t, ft := range full {
		copy(cent[int(ft)*k:int(ft)*k+k], best.cent[t*k:t*k+k])
	}
	return kmeans(vecs, vocab, k, cent, o.Iterations, workers).assign
}

// clusterVectors reads each article (by canonical position, in its
// language) as the TF-IDF vector clustering uses: its ClusterTerms
// heaviest terms of title and body found in at least two articles. The
// corpus keeps the titles and the vocabulary, for labels.
func clusterVectors(articles []digest.Article, order []int, langs []*language, an *analyzer, o Options, workers int) (*corpus, []svec) {
	n := len(articles)
	c := buildCorpus(n, func(i int) (string, string) {
		a := &articles[order[i]]
		return a.Title, lead(a, o.ClusterBodyWords*leadBytesPerWord)
	}, readOpts{
		bodyMax:     o.ClusterBodyWords,
		source:      func(i int) string { return articles[order[i]].SourceName },
		boilerShare: o.BoilerplateShare, boilerMinDocs: o.BoilerplateMinDocs,
		lang: func(i int) *language { return langs[i] },
	}, an, workers)

	// Words of a single article cannot bring two together; on a handful
	// of articles keep them anyway so there is something to name.
	minDF := int32(2)
	if n < 2*o.MinTopicArticles {
		minDF = 1
	}
	keep := func(t int32) bool { return c.df[t] >= minDF }
	vecs := make([]svec, n)
	parallelFor(n, workers, func(lo, hi, _ int) {
		sc := c.newScratch()
		for i := lo; i < hi; i++ {
			vecs[i] = c.tfidf(i, clusterTitleWeight, o.ClusterTerms, keep, sc)
			// The vector holds what clustering needs of the body; labels
			// read titles only.
			c.body[i] = nil
		}
	})
	return c, vecs
}
