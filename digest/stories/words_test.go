package stories

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// Every worker sees one numbering: the same word gets the same number
// whoever met it first, and distinct words never share one, across
// growths of the table.
func TestWordTableSharedNumbering(t *testing.T) {
	an := newAnalyzer(languages().named("english"), nil)
	tab := newWordTable()
	const words, workers = 50000, 4
	ids := make([][]int32, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := newWordReader(tab)
			ids[w] = make([]int32, words)
			// Each worker meets the words in its own order.
			for k := range words {
				i := (k*7919 + w*12345) % words
				ids[w][i] = r.id(0, an, []byte(fmt.Sprintf("zorgword%d", i)))
			}
		})
	}
	wg.Wait()
	seen := map[int32]int{}
	for i := range words {
		for w := 1; w < workers; w++ {
			if ids[w][i] != ids[0][i] {
				t.Fatalf("word %d: worker %d numbered it %d, worker 0 %d", i, w, ids[w][i], ids[0][i])
			}
		}
		if j, dup := seen[ids[0][i]]; dup {
			t.Fatalf("words %d and %d share number %d", i, j, ids[0][i])
		}
		seen[ids[0][i]] = i
	}
	r := newWordReader(tab)
	if id := r.id(0, an, []byte("the")); id != -1 {
		t.Errorf("stop word numbered %d, want -1", id)
	}
}

// The corpus does not depend on how many workers read it: term numbers
// come from the sorted stems, not from who met a word first.
func TestCorpusSameForAnyWorkers(t *testing.T) {
	arts := benchCorpus(400, 3)
	text := func(i int) (string, string) { return arts[i].Title, arts[i].Body.String() }
	an := newAnalyzer(languages().named("english"), nil)
	one := buildCorpus(len(arts), text, readOpts{bodyMax: 200, bigrams: true}, an, 1)
	for _, workers := range []int{2, 5} {
		many := buildCorpus(len(arts), text, readOpts{bodyMax: 200, bigrams: true}, an, workers)
		if one.vocab.text != many.vocab.text || !slices.Equal(one.vocab.ends, many.vocab.ends) {
			t.Fatalf("%d workers: vocabulary differs", workers)
		}
		for i := range arts {
			if !slices.Equal(one.title[i], many.title[i]) || !slices.Equal(one.body[i], many.body[i]) || !slices.Equal(one.pairs[i], many.pairs[i]) {
				t.Fatalf("%d workers: document %d read differently", workers, i)
			}
		}
		if !slices.Equal(one.df, many.df) {
			t.Fatalf("%d workers: document frequencies differ", workers)
		}
	}
	if one.vocab.len() < 100 {
		t.Fatalf("vocabulary of %d terms: the test reads too little", one.vocab.len())
	}
}
