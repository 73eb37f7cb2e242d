package stories

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
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
// articles. A topic is named by its LabelTerms most distinctive words:
// the largest gap between the share of the topic's articles and the share
// of other articles holding the word, shown in its most frequent written
// form. Topics come largest first, articles in Rank order.
func AutoTopics(articles []digest.Article, opts Options) []digest.Topic {
	o := opts.withDefaults()
	n := len(articles)
	if n == 0 {
		return nil
	}
	order := canonicalOrder(articles)
	workers := workerCount(o, n)
	an := newAnalyzer(o.Language, o.StopWords)
	c := buildCorpus(n, func(i int) (string, string) {
		a := &articles[order[i]]
		return a.Title, lead(a)
	}, readOpts{
		bodyMax:     o.ClusterBodyWords,
		source:      func(i int) string { return articles[order[i]].SourceName },
		boilerShare: o.BoilerplateShare, boilerMinDocs: o.BoilerplateMinDocs,
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
		counts := make([]float32, c.nterms)
		for i := lo; i < hi; i++ {
			vecs[i] = c.tfidf(i, clusterTitleWeight, o.ClusterTerms, keep, counts)
		}
	})

	maxK := min(o.MaxTopics, n/o.MinTopicArticles)
	minK := min(o.MinTopics, maxK)
	var assign []int32
	if maxK < 2 {
		assign = make([]int32, n)
	} else {
		cv, dim := compact(vecs)
		assign = chooseClusters(cv, dim, minK, maxK, o, workers)
	}

	k := 0
	for _, a := range assign {
		k = max(k, int(a)+1)
	}
	groups := make([][]int, k)
	for i, a := range assign {
		groups[a] = append(groups[a], i)
	}
	names := labelTopics(c, vecs, groups, articles, order, an, o)
	var topics []digest.Topic
	for g, ms := range groups {
		if len(ms) == 0 {
			continue
		}
		t := digest.Topic{Name: names[g], Auto: true, Articles: make([]digest.Article, len(ms))}
		for x, pos := range ms {
			t.Articles[x] = articles[order[pos]]
		}
		Rank(t.Articles, o)
		topics = append(topics, t)
	}
	slices.SortStableFunc(topics, func(a, b digest.Topic) int {
		return cmp.Or(cmp.Compare(len(b.Articles), len(a.Articles)), strings.Compare(a.Name, b.Name))
	})
	return topics
}

// compact renumbers the terms the vectors use as 0..dim-1, in the same
// order, so centroids are as small as the terms that matter.
func compact(vecs []svec) ([]svec, int) {
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
	dim := int32(0)
	for t, used := range id {
		if used != 0 {
			id[t] = dim
			dim++
		}
	}
	out := make([]svec, len(vecs))
	for i, v := range vecs {
		idx := make([]int32, len(v.idx))
		for k, t := range v.idx {
			idx[k] = id[t]
		}
		out[i] = svec{idx: idx, val: v.val}
	}
	return out, int(dim)
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

	bestOfK := candidates(sv, dim, minK, maxK, o, workers)
	sil := newSilhouette(sv, min(len(sv), silhouetteSample), dim)
	var best *kmResult
	bestScore := math.Inf(-1)
	for _, r := range bestOfK {
		if s := sil.score(r.assign, r.k); s > bestScore {
			best, bestScore = r, s
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
	cent := make([]float32, vocab*k)
	for t, ft := range full {
		copy(cent[int(ft)*k:int(ft)*k+k], best.cent[t*k:t*k+k])
	}
	return kmeans(vecs, vocab, k, cent, o.Iterations, workers).assign
}

// convergedPerMille stops k-means once fewer than one document in this
// many changes cluster in a pass.
const convergedPerMille = 500

// silhouetteSample bounds the documents whose pairwise similarities are
// kept to compute the silhouette of each candidate clustering.
const silhouetteSample = 600

// silhouette holds the cosine similarities between the first m sample
// documents, computed once and reused for every k.
type silhouette struct {
	m   int
	sim []float32
}

func newSilhouette(vecs []svec, m, vocab int) *silhouette {
	s := &silhouette{m: m, sim: make([]float32, m*m)}
	dense := make([]float32, vocab)
	for i := range m {
		v := vecs[i]
		for x, t := range v.idx {
			dense[t] = v.val[x]
		}
		for j := i; j < m; j++ {
			u := vecs[j]
			var d float32
			for x, t := range u.idx {
				d += u.val[x] * dense[t]
			}
			s.sim[i*m+j], s.sim[j*m+i] = d, d
		}
		for _, t := range v.idx {
			dense[t] = 0
		}
	}
	return s
}

// score is the mean silhouette, with cosine distance, of the first m
// documents under assign: (b-a)/max(a,b) where a is the mean distance to
// the own cluster and b to the nearest other cluster. Documents alone in
// their cluster score 0, as usual.
func (s *silhouette) score(assign []int32, k int) float64 {
	m := s.m
	size := make([]int, k)
	for i := range m {
		size[assign[i]]++
	}
	sum := make([]float64, k)
	var total float64
	for i := range m {
		clear(sum)
		row := s.sim[i*m : i*m+m]
		for j, x := range row {
			if j != i {
				sum[assign[j]] += 1 - float64(x)
			}
		}
		own := int(assign[i])
		if size[own] < 2 {
			continue
		}
		a := sum[own] / float64(size[own]-1)
		b := math.Inf(1)
		for c := range k {
			if c != own && size[c] > 0 {
				b = min(b, sum[c]/float64(size[c]))
			}
		}
		if math.IsInf(b, 1) {
			continue
		}
		if d := max(a, b); d > 0 {
			total += (b - a) / d
		}
	}
	return total / float64(m)
}

// kmResult is one spherical k-means clustering. cent is term-major
// (cent[t*k+c]) so scoring a sparse document reads neighbouring memory.
type kmResult struct {
	k         int
	cent      []float32
	assign    []int32
	sims      []float32 // each document's cosine to its centroid
	second    []float32 // and to the nearest other centroid
	objective float64
}

// initPlusPlus is k-means++ seeding with cosine distance.
func initPlusPlus(vecs []svec, vocab, k int, rng *rand.Rand) []float32 {
	n := len(vecs)
	cent := make([]float32, vocab*k)
	dist := make([]float64, n)
	for i := range dist {
		dist[i] = math.Inf(1)
	}
	dense := make([]float32, vocab)
	pick := rng.IntN(n)
	for c := range k {
		v := vecs[pick]
		for x, t := range v.idx {
			cent[int(t)*k+c] = v.val[x]
		}
		if c == k-1 {
			break
		}
		for x, t := range v.idx {
			dense[t] = v.val[x]
		}
		var total float64
		for i, u := range vecs {
			var s float32
			for x, t := range u.idx {
				s += u.val[x] * dense[t]
			}
			d := 1 - float64(s)
			if d < 0 {
				d = 0
			}
			if d < dist[i] {
				dist[i] = d
			}
			total += dist[i] * dist[i]
		}
		for _, t := range v.idx {
			dense[t] = 0
		}
		if total == 0 {
			pick = rng.IntN(n)
			continue
		}
		r := rng.Float64() * total
		pick = n - 1
		for i, d := range dist {
			r -= d * d
			if r <= 0 {
				pick = i
				break
			}
		}
	}
	return cent
}

// kmeans runs spherical k-means from the given centroids. Assignment runs
// in parallel (each document on its own); centroids are summed in document
// order so the result does not depend on the number of workers.
func kmeans(vecs []svec, vocab, k int, cent []float32, iters, workers int) *kmResult {
	n := len(vecs)
	r := &kmResult{k: k, cent: slices.Clone(cent), assign: make([]int32, n), sims: make([]float32, n), second: make([]float32, n)}
	for i := range r.assign {
		r.assign[i] = -1
	}
	changedBy := make([]int, max(workers, 1))
	for it := 0; it < iters; it++ {
		clear(changedBy)
		parallelFor(n, workers, func(lo, hi, w int) {
			scores := make([]float32, k)
			for i := lo; i < hi; i++ {
				clear(scores)
				v := vecs[i]
				for x, t := range v.idx {
					val := v.val[x]
					row := r.cent[int(t)*k : int(t)*k+k]
					for c := range row {
						scores[c] += val * row[c]
					}
				}
				best, second := 0, -1
				for c := 1; c < k; c++ {
					if scores[c] > scores[best] {
						best, second = c, best
					} else if second < 0 || scores[c] > scores[second] {
						second = c
					}
				}
				if int32(best) != r.assign[i] {
					r.assign[i] = int32(best)
					changedBy[w]++
				}
				r.sims[i] = scores[best]
				r.second[i] = 0
				if second >= 0 {
					r.second[i] = scores[second]
				}
			}
		})
		changed := 0
		for _, x := range changedBy {
			changed += x
		}
		// Waiting for the last few border documents to settle costs many
		// passes and changes no topic.
		if it > 0 && changed*convergedPerMille <= n {
			break
		}
		r.update(vecs)
	}
	r.objective = 0
	for _, s := range r.sims {
		r.objective += float64(s)
	}
	return r
}

// update recomputes unit-length centroids; an emptied cluster takes the
// document that fits its own cluster worst, so k clusters stay k.
func (r *kmResult) update(vecs []svec) {
	k := r.k
	clear(r.cent)
	size := make([]int, k)
	for i, v := range vecs {
		c := int(r.assign[i])
		size[c]++
		for x, t := range v.idx {
			r.cent[int(t)*k+c] += v.val[x]
		}
	}
	for c := range k {
		if size[c] > 0 {
			continue
		}
		worst := -1
		for i := range vecs {
			if size[r.assign[i]] > 1 && (worst < 0 || r.sims[i] < r.sims[worst]) {
				worst = i
			}
		}
		if worst < 0 {
			continue
		}
		old := int(r.assign[worst])
		v := vecs[worst]
		for x, t := range v.idx {
			r.cent[int(t)*k+old] -= v.val[x]
			r.cent[int(t)*k+c] += v.val[x]
		}
		size[old]--
		size[c]++
		r.assign[worst] = int32(c)
		r.sims[worst] = 1
	}
	norm := make([]float64, k)
	for t := 0; t < len(r.cent)/k; t++ {
		for c := range k {
			x := float64(r.cent[t*k+c])
			norm[c] += x * x
		}
	}
	for c := range k {
		if norm[c] > 0 {
			norm[c] = 1 / math.Sqrt(norm[c])
		}
	}
	for t := 0; t < len(r.cent)/k; t++ {
		for c := range k {
			r.cent[t*k+c] = float32(float64(r.cent[t*k+c]) * norm[c])
		}
	}
}

// labelTopics names each group by its most distinctive words.
func labelTopics(c *corpus, vecs []svec, groups [][]int, articles []digest.Article, order []int, an *analyzer, o Options) []string {
	n := len(vecs)
	df := make([]int32, len(c.vocab))
	for _, v := range vecs {
		for _, t := range v.idx {
			df[t]++
		}
	}
	names := make([]string, len(groups))
	used := map[string]bool{}
	for g, ms := range groups {
		if len(ms) == 0 {
			continue
		}
		dfc := map[int32]int{}
		for _, pos := range ms {
			for _, t := range vecs[pos].idx {
				dfc[t]++
			}
		}
		type cand struct {
			t int32
			s float64
		}
		var cands []cand
		nc := float64(len(ms))
		for t, x := range dfc {
			if isNumber(c.vocab[t]) {
				continue
			}
			s := float64(x) / nc
			if n > len(ms) {
				s -= float64(int(df[t])-x) / float64(n-len(ms))
			}
			if s > 0 {
				cands = append(cands, cand{t, s})
			}
		}
		sort.Slice(cands, func(a, b int) bool {
			if cands[a].s != cands[b].s {
				return cands[a].s > cands[b].s
			}
			return cands[a].t < cands[b].t
		})
		if len(cands) > 3*o.LabelTerms {
			cands = cands[:3*o.LabelTerms]
		}
		stems := map[string]bool{}
		for _, x := range cands {
			stems[c.vocab[x.t]] = true
		}
		forms := surfaceForms(stems, ms, articles, order, an)
		var words []string
		var spare []string
		seen := map[string]bool{}
		for _, x := range cands {
			w := forms[c.vocab[x.t]]
			if w == "" {
				w = c.vocab[x.t]
			}
			if seen[strings.ToLower(w)] {
				continue
			}
			seen[strings.ToLower(w)] = true
			if len(words) < o.LabelTerms {
				words = append(words, w)
			} else {
				spare = append(spare, w)
			}
		}
		name := strings.Join(words, " · ")
		for _, w := range spare {
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

// surfaceForms finds how each stem is most often written in the titles
// and leads of a topic's articles ("Iraq", "ISIS", "security"), so labels
// read as words, not stems.
func surfaceForms(stems map[string]bool, members []int, articles []digest.Article, order []int, an *analyzer) map[string]string {
	const maxDocs, leadWords = 50, 200
	counts := map[string]map[string]int{}
	for x, pos := range members {
		if x >= maxDocs {
			break
		}
		a := &articles[order[pos]]
		for _, text := range []string{a.Title, lead(a)} {
			seen := 0
			scanWords(text, func(w string) bool {
				seen++
				t := an.term(lowerWord(w))
				if stems[t] {
					if counts[t] == nil {
						counts[t] = map[string]int{}
					}
					counts[t][w]++
				}
				return seen < leadWords
			})
		}
	}
	out := make(map[string]string, len(counts))
	for t, m := range counts {
		best, bn := "", 0
		lower, ln := "", 0
		for w, k := range m {
			if k > bn || (k == bn && w > best) {
				best, bn = w, k
			}
			if lw := strings.ToLower(w); lw == w && k > ln {
				lower, ln = w, k
			}
		}
		// A capital may only mark the start of a sentence or a headline:
		// a word also written in lower case now and then is a common word.
		if ln > 0 && 4*ln >= bn {
			best = lower
		}
		out[t] = best
	}
	return out
}

func isNumber(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}
