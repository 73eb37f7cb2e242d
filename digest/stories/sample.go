package stories

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// candidates clusters the sample for every k in [minK,maxK], Restarts
// times each. Every (k, restart) run is seeded by its own numbers, so
// running them side by side gives the same results as running them in
// turn. Of the restarts of one k only the best is kept (the first on a
// tie, as if they had run in turn), and run[b] says which restart it was.
//
// The results keep no centroids: the silhouette that picks a k reads the
// assignments only, and the winner's centroids are computed again by
// sampleRun (the same seeding and run, so the same numbers). Held for
// every k at once, they were the largest part of a batch's clustering.
func candidates(sv []svec, dim, minK, maxK int, o Options, workers int) (best []*kmResult, run []int) {
	type job struct{ k, r int }
	var jobs []job
	for k := minK; k <= maxK; k++ {
		for r := range o.Restarts {
			jobs = append(jobs, job{k, r})
		}
	}
	best = make([]*kmResult, maxK-minK+1)
	run = make([]int, maxK-minK+1)
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, len(jobs))) {
		wg.Go(func() {
			for {
				x := int(next.Add(1)) - 1
				if x >= len(jobs) {
					return
				}
				j := jobs[x]
				r := sampleRun(sv, dim, j.k, j.r, o)
				r.cent = nil
				mu.Lock()
				b := j.k - minK
				if best[b] == nil || r.objective > best[b].objective || r.objective == best[b].objective && j.r < run[b] {
					best[b], run[b] = r, j.r
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return best, run
}

// sampleRun is restart r of k-means with k clusters on the sample, seeded
// by its own numbers.
func sampleRun(sv []svec, dim, k, r int, o Options) *kmResult {
	rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(k)<<16|uint64(r)))
	return kmeans(sv, dim, k, initPlusPlus(sv, dim, k, rng), o.Iterations, 1)
}

// renumber numbers the terms vecs use as 0..len(full)-1, in their order;
// full[t] is the number term t had before.
func renumber(vecs []svec) ([]svec, []int32) {
	used := map[int32]bool{}
	for _, v := range vecs {
		for _, t := range v.idx {
			used[t] = true
		}
	}
	full := make([]int32, 0, len(used))
	for t := range used {
		full = append(full, t)
	}
	slices.Sort(full)
	id := make(map[int32]int32, len(full))
	for i, t := range full {
		id[t] = int32(i)
	}
	out := make([]svec, len(vecs))
	for i, v := range vecs {
		idx := make([]int32, len(v.idx))
		for k, t := range v.idx {
			idx[k] = id[t]
		}
		out[i] = svec{idx: idx, val: v.val}
	}
	return out, full
}
