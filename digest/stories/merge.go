package stories

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/digest-newsletter/digest/digest"
)

// canonicalOrder returns the indices of articles sorted by their content,
// so that every later step sees the same sequence whatever the input order.
func canonicalOrder(articles []digest.Article) []int {
	order := make([]int, len(articles))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		x, y := &articles[a], &articles[b]
		// One field after the other: cmp.Or would compare every body of
		// every pair, though IDs nearly always differ.
		if c := strings.Compare(x.ID, y.ID); c != 0 {
			return c
		}
		if c := strings.Compare(x.URL, y.URL); c != 0 {
			return c
		}
		if c := strings.Compare(x.Title, y.Title); c != 0 {
			return c
		}
		if c := strings.Compare(x.Source, y.Source); c != 0 {
			return c
		}
		if c := strings.Compare(x.SourceName, y.SourceName); c != 0 {
			return c
		}
		if c := x.Published.Compare(y.Published); c != 0 {
			return c
		}
		if c := strings.Compare(x.Summary, y.Summary); c != 0 {
			return c
		}
		// Reading bodies is the last resort: they may be in the spill
		// file.
		if c := cmp.Compare(x.Body.Len(), y.Body.Len()); c != 0 {
			return c
		}
		return strings.Compare(x.Body.String(), y.Body.String())
	})
	return order
}

// lead is the text merged on besides the title: the body when the source
// gives one, else the summary.
func lead(a *digest.Article, maxBytes int) string {
	if !a.Body.Blank() {
		return a.Body.Lead(maxBytes)
	}
	return digest.CutBytes(a.Summary, maxBytes)
}

// edge is a pair of documents (by canonical position, i < j) that are the
// same story.
type edge struct {
	i, j int32
	sim  float32
}

// Merge collapses near-duplicate articles into one representative each,
// the others listed in its Also (Source, URL, Title). Two articles are the
// same story when the cosine of their TF-IDF vectors of title (weighted
// TitleWeight) and lead (the first LeadWords content words of the body or
// summary) reaches MergeThreshold, or when they have the same URL. Each
// story is a star around its representative: articles are taken in order
// of source weight, completeness (body, then summary, then length) and
// age (first report first), and each one not yet taken becomes a
// representative that takes every untaken article similar to it. So no
// chain of "A is like B is like C" joins two different stories.
//
// The output holds the representatives in input order.
func Merge(articles []digest.Article, opts Options) []digest.Article {
	o := opts.WithDefaults()
	n := len(articles)
	if n < 2 {
		return slices.Clone(articles)
	}
	order := canonicalOrder(articles)
	workers := workerCount(o, n)
	vecs, nterms := leadVectors(articles, order, o, workers)
	edges := similarPairs(vecs, nterms, o, workers)
	edges = append(edges, sameURL(articles, order)...)

	rep, members, prio := stars(articles, order, edges, o)

	// Also lists the others in priority order, so the best of them first.
	rank := make([]int, n)
	for r, p := range prio {
		rank[p] = r
	}
	canon := make([]int32, n) // input index -> canonical position
	for pos, idx := range order {
		canon[idx] = int32(pos)
	}
	out := make([]digest.Article, 0, n-len(members))
	for idx := range articles {
		pos := canon[idx]
		if rep[pos] != pos {
			continue
		}
		a := articles[idx]
		ms := members[pos]
		if len(ms) == 0 {
			out = append(out, a)
			continue
		}
		sort.Slice(ms, func(x, y int) bool { return rank[ms[x]] < rank[ms[y]] })
		seen := map[string]bool{a.URL: true}
		also := make([]digest.Also, 0, len(a.Also)+len(ms))
		addAlso := func(x digest.Also) {
			if x.URL != "" && seen[x.URL] {
				return
			}
			seen[x.URL] = true
			also = append(also, x)
		}
		for _, x := range a.Also {
			addAlso(x)
		}
		for _, m := range ms {
			b := &articles[order[m]]
			addAlso(digest.Also{Source: b.Source, URL: b.URL, Title: b.Title})
			for _, x := range b.Also {
				addAlso(x)
			}
		}
		a.Also = also
		out = append(out, a)
	}
	return out
}

// completeness prefers a report readers can open (a web link; article
// files may only have a file:// URL), then one with a body, then one with a
// summary, then the longer text.
func completeness(a *digest.Article) int {
	score := len(a.Title) + min(len(a.Summary), 2000) + min(a.Body.Len(), 20000)
	if strings.HasPrefix(a.URL, "https://") || strings.HasPrefix(a.URL, "http://") {
		score += 1 << 22
	}
	if strings.TrimSpace(a.Summary) != "" {
		score += 1 << 20
	}
	if !a.Body.Blank() {
		score += 1 << 21
	}
	return score
}

// sameURL joins articles that link to the same page (one item in two
// feeds); they are the same story whatever their text says.
func sameURL(articles []digest.Article, order []int) []edge {
	first := map[string]int32{}
	var out []edge
	for pos, idx := range order {
		u := articles[idx].URL
		if u == "" {
			continue
		}
		if f, ok := first[u]; ok {
			out = append(out, edge{f, int32(pos), 1})
			continue
		}
		first[u] = int32(pos)
	}
	return out
}

// minSharedTerms is how many of their CandidateTerms heaviest terms two
// articles must share before their cosine is computed.
const minSharedTerms = 2

// similarPairs finds every pair with cosine >= MergeThreshold. Candidates
// come from an inverted index of each document's CandidateTerms heaviest
// terms; each candidate's exact cosine is then computed against the
// document scattered into a dense scratch vector.
func similarPairs(vecs []svec, vocab int, o Options, workers int) []edge {
	n := len(vecs)
	top := make([][]int32, n)
	parallelFor(n, workers, func(lo, hi, _ int) {
		for i := lo; i < hi; i++ {
			top[i] = heaviest(vecs[i], o.CandidateTerms)
		}
	})
	start, flat := postings(top, vocab)
	thr := float32(o.MergeThreshold)
	parts := make([][]edge, max(workers, 1))
	parallelFor(n, workers, func(lo, hi, w int) {
		dense := make([]float32, vocab)
		stamp := make([]int32, n)
		shared := make([]int8, n)
		var touched []int32
		var out []edge
		for i := lo; i < hi; i++ {
			touched = touched[:0]
			for _, t := range top[i] {
				p := flat[start[t]:start[t+1]]
				if len(p) > o.MaxPosting {
					continue
				}
				// Postings are ascending: only look at later documents so
				// each pair is computed once.
				from, _ := slices.BinarySearch(p, int32(i+1))
				for _, j := range p[from:] {
					if stamp[j] != int32(i+1) {
						stamp[j] = int32(i + 1)
						shared[j] = 0
						touched = append(touched, j)
					}
					if shared[j] < 127 {
						shared[j]++
					}
				}
			}
			if len(touched) == 0 {
				continue
			}
			v := vecs[i]
			for k, t := range v.idx {
				dense[t] = v.val[k]
			}
			for _, j := range touched {
				// Reports of one story share several of their heaviest
				// terms; one shared name is a coincidence not worth a
				// cosine, unless one of them has hardly any terms.
				if int(shared[j]) < min(minSharedTerms, len(top[i]), len(top[j])) {
					continue
				}
				u := vecs[j]
				var s float32
				for k, t := range u.idx {
					s += u.val[k] * dense[t]
				}
				if s >= thr {
					out = append(out, edge{int32(i), j, s})
				}
			}
			for _, t := range v.idx {
				dense[t] = 0
			}
		}
		parts[w] = out
	})
	var edges []edge
	for _, p := range parts {
		edges = append(edges, p...)
	}
	return edges
}

// heaviest returns the indices of v's k largest weights (ties to the
// lower index), by insertion into a list of k: vectors are short and k
// small, so this beats sorting.
func heaviest(v svec, k int) []int32 {
	if len(v.idx) <= k {
		return v.idx
	}
	pos := make([]int, 0, k)
	heavier := func(a, b int) bool {
		return v.val[a] > v.val[b] || (v.val[a] == v.val[b] && a < b)
	}
	for i := range v.idx {
		if len(pos) == k && !heavier(i, pos[k-1]) {
			continue
		}
		if len(pos) < k {
			pos = append(pos, i)
		} else {
			pos[k-1] = i
		}
		for j := len(pos) - 1; j > 0 && heavier(pos[j], pos[j-1]); j-- {
			pos[j], pos[j-1] = pos[j-1], pos[j]
		}
	}
	out := make([]int32, k)
	for i, p := range pos {
		out[i] = v.idx[p]
	}
	return out
}

// leadVectors reads each article (by canonical position) as the TF-IDF
// vector of its title (weighted TitleWeight), the first LeadWords content
// words of its lead and their pairs; nterms is the size of their term
// space.
func leadVectors(articles []digest.Article, order []int, o Options, workers int) (vecs []svec, nterms int) {
	n := len(articles)
	an := newAnalyzer(languages().named(o.Language), o.StopWords)
	c := buildCorpus(n, func(i int) (string, string) {
		a := &articles[order[i]]
		return a.Title, lead(a, o.LeadWords*leadBytesPerWord)
	}, readOpts{
		bodyMax: o.LeadWords, bigrams: true,
		source:      func(i int) string { return articles[order[i]].SourceName },
		boilerShare: o.BoilerplateShare, boilerMinDocs: o.BoilerplateMinDocs,
	}, an, workers)
	// Merging compares vectors and never names a word, nor keeps a term
	// for being in enough documents.
	c.vocab, c.df = vocabulary{}, nil

	vecs = make([]svec, n)
	parallelFor(n, workers, func(lo, hi, _ int) {
		sc := c.newScratch()
		for i := lo; i < hi; i++ {
			vecs[i] = c.tfidf(i, o.TitleWeight, 0, nil, sc)
			// The vector is all that is read of the document from here:
			// its term lists go as it is made, not after the last one.
			c.title[i], c.body[i] = nil, nil
			if c.pairs != nil {
				c.pairs[i] = nil
			}
		}
	})
	return vecs, c.nterms
}

// stars makes each story a star around its representative (see Merge):
// rep[p] is the representative of the article at canonical position p,
// members the others of each representative, prio the positions in the
// order they were taken.
func stars(articles []digest.Article, order []int, edges []edge, o Options) (rep []int32, members map[int32][]int32, prio []int) {
	n := len(articles)
	adj := make([][]int32, n)
	for _, e := range edges {
		adj[e.i] = append(adj[e.i], e.j)
		adj[e.j] = append(adj[e.j], e.i)
	}

	prio = make([]int, n)
	for i := range prio {
		prio[i] = i
	}
	weight := make([]float64, n)
	complete := make([]int, n)
	for i, idx := range order {
		weight[i] = o.weight(articles[idx].SourceName)
		complete[i] = completeness(&articles[idx])
	}
	slices.SortStableFunc(prio, func(x, y int) int {
		return cmp.Or(
			cmp.Compare(weight[y], weight[x]),
			cmp.Compare(complete[y], complete[x]),
			articles[order[x]].Published.Compare(articles[order[y]].Published),
		)
	})
	rep = make([]int32, n)
	for i := range rep {
		rep[i] = -1
	}
	members = map[int32][]int32{}
	for _, p := range prio {
		if rep[p] >= 0 {
			continue
		}
		rep[p] = int32(p)
		for _, q := range adj[p] {
			if rep[q] < 0 {
				rep[q] = int32(p)
				members[int32(p)] = append(members[int32(p)], q)
			}
		}
	}
	return rep, members, prio
}

// postings indexes the documents by their top terms, in one array (CSR):
// the documents holding term t are flat[start[t]:start[t+1]], ascending.
// A slice per term of a big term space costs more than the postings
// themselves.
func postings(top [][]int32, vocab int) (start, flat []int32) {
	start = make([]int32, vocab+1)
	for _, ts := range top {
		for _, t := range ts {
			start[t+1]++
		}
	}
	for t := range vocab {
		start[t+1] += start[t]
	}
	// start[t] serves as term t's fill cursor, then is shifted back: a
	// cursor array of its own would cost as much as start (a slot per
	// term of the bigram space).
	flat = make([]int32, start[vocab])
	for i, ts := range top {
		for _, t := range ts {
			flat[start[t]] = int32(i)
			start[t]++
		}
	}
	copy(start[1:], start[:vocab])
	start[0] = 0
	return start, flat
}
