package stories

import (
	"math"
	"runtime"
	"slices"
	"sync"
)

// corpus is a batch of documents as term ids over a vocabulary that is
// sorted, so ids (and every tie broken on them) do not depend on the order
// in which the workers met the words.
type corpus struct {
	vocab vocabulary
	title [][]int32
	body  [][]int32
	// pairs are hashed bigram features of the body, ids from len(vocab).
	pairs [][]int32
	// nterms is the size of the term space: nwords words, then bigram
	// buckets.
	nterms, nwords int
	// df is the number of documents holding each term, title or body.
	df   []int32
	idfs []float32
}

// bigramBuckets is the size of the hashed bigram space. Two different
// bigrams sharing a bucket only matter when two articles hold one each,
// and then add a sliver to their similarity.
const bigramBuckets = 1 << 18

// addBigrams gives every document a feature for each pair of neighbouring
// body words. Shared phrases, not just shared names, tell a rewrite of one
// report from another report on the same subject. The pairs are hashed
// into buckets instead of named, which keeps the vocabulary (and its sort)
// small.
func (c *corpus) addBigrams(workers int) {
	v := uint64(c.vocab.len())
	c.pairs = make([][]int32, len(c.body))
	parallelFor(len(c.body), workers, func(lo, hi, _ int) {
		for i := lo; i < hi; i++ {
			b := c.body[i]
			if len(b) < 2 {
				continue
			}
			p := make([]int32, len(b)-1)
			for k := range p {
				h := (uint64(b[k])*0x9E3779B97F4A7C15 ^ uint64(b[k+1])*0xC2B2AE3D27D4EB4F) >> 40
				p[k] = int32(v + h%bigramBuckets)
			}
			c.pairs[i] = p
		}
	})
	c.nterms = c.vocab.len() + bigramBuckets
}

// parallelFor runs fn over [0,n) split into contiguous chunks, one per
// worker; fn gets its worker number so it can use per-worker scratch.
func parallelFor(n, workers int, fn func(lo, hi, worker int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		if n > 0 {
			fn(0, n, 0)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi, w)
		}()
	}
	wg.Wait()
}

func workerCount(o Options, n int) int {
	w := o.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	// Goroutines cost more than they save on small batches.
	if n < 256 {
		w = 1
	}
	return w
}

// readOpts says how buildCorpus reads documents.
type readOpts struct {
	// bodyMax caps the content words kept from a body (0: all).
	bodyMax int
	// bigrams adds a term for every pair of neighbouring body words (see
	// addBigrams).
	bigrams bool
	// source names each document's source; with it, words that at least
	// boilerShare of a source's documents (when it has boilerMinDocs or
	// more) hold in their bodies are dropped from them (see
	// dropBoilerplate).
	source        func(i int) string
	boilerShare   float64
	boilerMinDocs int
	// lang gives each document's language, nil for the analyzer's own;
	// a nil lang reads every document in the analyzer's language.
	lang func(i int) *language
}

// buildCorpus reads n documents; text(i) gives the title and the body of
// document i.
func buildCorpus(n int, text func(i int) (title, body string), ro readOpts, an *analyzer, workers int) *corpus {
	c := &corpus{title: make([][]int32, n), body: make([][]int32, n)}
	if workers > n {
		workers = max(n, 1)
	}
	ans, docLang := readers(n, ro.lang, an)
	tab := newWordTable()
	parallelFor(n, workers, func(lo, hi, _ int) {
		r := newWordReader(tab)
		// Term lists are read into one buffer and kept at their exact
		// length: grown by append they would hold a third more.
		var buf []int32
		for i := lo; i < hi; i++ {
			k := docLang[i]
			title, body := text(i)
			buf = r.terms(buf[:0], k, ans[k], title, 0)
			c.title[i] = slices.Clone(buf)
			buf = r.terms(buf[:0], k, ans[k], body, ro.bodyMax)
			c.body[i] = slices.Clone(buf)
		}
	})
	var termOf []int32
	c.vocab, termOf = tab.number(ans, workers)
	parallelFor(n, workers, func(lo, hi, _ int) {
		for i := lo; i < hi; i++ {
			for _, field := range []*[]int32{&c.title[i], &c.body[i]} {
				f := *field
				dropped := false
				for k, v := range f {
					f[k] = termOf[v]
					dropped = dropped || f[k] < 0
				}
				if dropped {
					*field = slices.DeleteFunc(f, func(t int32) bool { return t < 0 })
				}
			}
		}
	})
	if ro.source != nil {
		c.dropBoilerplate(ro.source, ro.boilerShare, ro.boilerMinDocs)
	}
	c.countDF(workers, ro.bigrams)
	c.computeIDF()
	return c
}

// readers gives the analyzer of every language the documents are read
// in (an first) and each document's, as an index into them; lang nil
// reads every document as an does.
func readers(n int, lang func(i int) *language, an *analyzer) ([]*analyzer, []uint8) {
	ans := []*analyzer{an}
	docLang := make([]uint8, n)
	if lang == nil {
		return ans, docLang
	}
	index := map[*language]uint8{an.lang: 0}
	for i := range n {
		l := lang(i)
		if l == nil {
			continue
		}
		k, ok := index[l]
		// A byte numbers a batch's languages: past 256 (there are not
		// that many lists) the rest are read as an's.
		if !ok && len(ans) < 256 {
			k = uint8(len(ans))
			index[l] = k
			ans = append(ans, an.with(l))
		}
		docLang[i] = k
	}
	return ans, docLang
}

// countDF counts the documents holding each term, title or body, and
// with bigrams adds the pair features first (see addBigrams).
func (c *corpus) countDF(workers int, bigrams bool) {
	n := len(c.title)
	dfs := make([][]int32, workers)
	parallelFor(n, workers, func(lo, hi, w int) {
		df := make([]int32, c.vocab.len())
		stamp := make([]int32, c.vocab.len())
		for i := lo; i < hi; i++ {
			for _, field := range [][]int32{c.title[i], c.body[i]} {
				for _, g := range field {
					if stamp[g] != int32(i+1) {
						stamp[g] = int32(i + 1)
						df[g]++
					}
				}
			}
		}
		dfs[w] = df
	})
	c.nterms, c.nwords = c.vocab.len(), c.vocab.len()
	if bigrams {
		c.addBigrams(workers)
	}
	c.df = make([]int32, c.nterms)
	for _, df := range dfs {
		for t, v := range df {
			c.df[t] += v
		}
	}
	if c.pairs != nil {
		stamp := make([]int32, c.nterms)
		for i, p := range c.pairs {
			for _, t := range p {
				if stamp[t] != int32(i+1) {
					stamp[t] = int32(i + 1)
					c.df[t]++
				}
			}
		}
	}
}

// dropBoilerplate removes each source's boilerplate from the bodies of
// its documents: a word in the bodies of at least share of a source's
// documents, when it has at least minDocs of them, is that source's
// furniture ("Continue reading…", "Article URL: … Points:"), not news, and
// would pull the source's articles together.
func (c *corpus) dropBoilerplate(group func(i int) string, share float64, minDocs int) {
	bySource := map[string][]int{}
	var names []string
	for i := range c.body {
		g := group(i)
		if _, ok := bySource[g]; !ok {
			names = append(names, g)
		}
		bySource[g] = append(bySource[g], i)
	}
	count := make([]int32, c.vocab.len())
	stamp := make([]int32, c.vocab.len())
	for _, name := range names {
		docs := bySource[name]
		if len(docs) < minDocs {
			continue
		}
		var touched []int32
		for _, i := range docs {
			for _, t := range c.body[i] {
				if stamp[t] != int32(i+1) {
					stamp[t] = int32(i + 1)
					if count[t] == 0 {
						touched = append(touched, t)
					}
					count[t]++
				}
			}
		}
		limit := int32(math.Ceil(share * float64(len(docs))))
		boiler := map[int32]bool{}
		for _, t := range touched {
			if count[t] >= limit {
				boiler[t] = true
			}
			count[t] = 0
		}
		if len(boiler) == 0 {
			continue
		}
		for _, i := range docs {
			c.body[i] = slices.DeleteFunc(c.body[i], func(t int32) bool { return boiler[t] })
		}
	}
}

// computeIDF sets the smoothed inverse document frequencies; the +1 keeps
// terms that every document shares from vanishing, so two reports of one
// story in a batch of two still compare.
func (c *corpus) computeIDF() {
	n := float64(len(c.title))
	c.idfs = make([]float32, len(c.df))
	for t, df := range c.df {
		c.idfs[t] = float32(math.Log((1+n)/(1+float64(df))) + 1)
	}
}

// svec is a sparse vector, sorted by index and of unit length.
type svec struct {
	idx []int32
	val []float32
}

// tfScratch is one worker's scratch for tfidf. Word terms count in words
// (one slot a word of the vocabulary, zero between calls); a document's
// pair terms, a few dozen spread over bigramBuckets, are counted by
// sorting them (pairT, each distinct pair once, and pairC its count), so
// a worker's scratch does not take four bytes a bucket. touched is reused
// so each vector is allocated at its exact length.
type tfScratch struct {
	nwords  int32
	words   []float32
	pairT   []int32
	pairC   []float32
	touched []int32
}

func (c *corpus) newScratch() *tfScratch {
	return &tfScratch{nwords: int32(c.nwords), words: make([]float32, c.nwords)}
}

// addPairs counts a document's pair terms (those keep accepts), once
// each, and appends them to touched.
func (sc *tfScratch) addPairs(ids []int32, keep func(int32) bool, touched []int32) []int32 {
	sc.pairT, sc.pairC = sc.pairT[:0], sc.pairC[:0]
	for _, t := range ids {
		if keep == nil || keep(t) {
			sc.pairT = append(sc.pairT, t)
		}
	}
	slices.Sort(sc.pairT)
	n := 0
	for k, t := range sc.pairT {
		if k > 0 && t == sc.pairT[n-1] {
			sc.pairC[n-1]++
			continue
		}
		sc.pairT[n] = t
		sc.pairC = append(sc.pairC, 1)
		n++
		touched = append(touched, t)
	}
	sc.pairT = sc.pairT[:n]
	return touched
}

func (sc *tfScratch) count(t int32) float32 {
	if t < sc.nwords {
		return sc.words[t]
	}
	k, _ := slices.BinarySearch(sc.pairT, t)
	return sc.pairC[k]
}

// reset lets a word's count go; pair counts go with the next document.
func (sc *tfScratch) reset(t int32) {
	if t < sc.nwords {
		sc.words[t] = 0
	}
}

// tfidf builds document i's vector with term frequency
// titleWeight*title + body counts, weighted 1+ln(tf) times idf, keeping the
// topK heaviest terms (topK <= 0: all) and only terms keep accepts (nil:
// all).
func (c *corpus) tfidf(i int, titleWeight float64, topK int, keep func(int32) bool, sc *tfScratch) svec {
	touched := sc.touched[:0]
	defer func() { sc.touched = touched[:0] }()
	add := func(ids []int32, w float32) {
		for _, t := range ids {
			if keep != nil && !keep(t) {
				continue
			}
			if sc.words[t] == 0 {
				touched = append(touched, t)
			}
			sc.words[t] += w
		}
	}
	add(c.title[i], float32(titleWeight))
	add(c.body[i], 1)
	if c.pairs != nil {
		touched = sc.addPairs(c.pairs[i], keep, touched)
	}
	if topK > 0 && len(touched) > topK {
		touched = c.heaviest(touched, topK, sc)
	}
	slices.Sort(touched)
	v := svec{idx: slices.Clone(touched), val: make([]float32, len(touched))}
	var norm float64
	for k, t := range touched {
		w := c.weight(t, sc.count(t))
		sc.reset(t)
		v.val[k] = w
		norm += float64(w) * float64(w)
	}
	if norm > 0 {
		inv := float32(1 / math.Sqrt(norm))
		for k := range v.val {
			v.val[k] *= inv
		}
	}
	return v
}

// heaviest keeps the topK terms of touched of most weight (ties to the
// lower term) and lets the others' counts go.
func (c *corpus) heaviest(touched []int32, topK int, sc *tfScratch) []int32 {
	type tw struct {
		t int32
		w float32
	}
	ws := make([]tw, len(touched))
	for k, t := range touched {
		ws[k] = tw{t, c.weight(t, sc.count(t))}
	}
	slices.SortFunc(ws, func(a, b tw) int {
		if a.w != b.w {
			if a.w > b.w {
				return -1
			}
			return 1
		}
		return int(a.t - b.t)
	})
	for _, x := range ws[topK:] {
		sc.reset(x.t)
	}
	touched = touched[:topK]
	for k, x := range ws[:topK] {
		touched[k] = x.t
	}
	return touched
}

// weight is the TF-IDF weight of term t seen tf times.
func (c *corpus) weight(t int32, tf float32) float32 {
	return float32(1+math.Log(float64(tf))) * c.idfs[t]
}
