package stories

import (
	"math"
	"math/rand/v2"
)

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

// kmeans runs spherical k-means from the given centroids, which it takes
// over and updates in place. Assignment runs
// in parallel (each document on its own); centroids are summed in document
// order so the result does not depend on the number of workers.
func kmeans(vecs []svec, vocab, k int, cent []float32, iters, workers int) *kmResult {
	n := len(vecs)
	r := &kmResult{k: k, cent: cent, assign: make([]int32, n), sims: make([]float32, n), second: make([]float32, n)}
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
