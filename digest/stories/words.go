package stories

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"github.com/digest-newsletter/digest/digest"
)

// wordTable numbers the distinct lower-case words of one batch, each in
// the language it is read in, for all the goroutines reading the batch.
//
// It is the largest thing a batch's reading holds: one entry for each
// distinct word, some 200,000 for ten thousand news articles. So it is
// one table for every worker, not a copy of the common words per worker,
// and it is compact: a shard keeps its words back to back in one byte
// slice and its hash slots as uint32s, about 25 bytes a word against ~50
// for a map[string]int32 with a string per word. A lock per shard lets the
// workers share it; with a few workers they seldom meet.
//
// A word's number is only good until number gives the batch's terms.
type wordTable struct {
	seed   maphash.Seed
	shards [wordShards]wordShard
}

const (
	wordShardBits = 5
	wordShards    = 1 << wordShardBits
	// A slot holds an entry's index (plus one, 0 is empty) in its low
	// slotIndexBits and a fragment of the key's hash above, so a probe
	// seldom compares keys that differ.
	slotIndexBits = 24
	slotIndexMask = 1<<slotIndexBits - 1
)

type wordShard struct {
	mu    sync.Mutex
	slots []uint32
	// keys holds the entries' keys back to back, each its language's
	// byte then the word; entry k ends at ends[k].
	keys []byte
	ends []uint32
	// stop has bit k set when entry k is a stop word.
	stop []uint64
	// The shards' locks on separate cache lines.
	_ [64]byte
}

func newWordTable() *wordTable {
	return &wordTable{seed: maphash.MakeSeed()}
}

// id numbers word (lower case) in language lang, whose hash is h and
// whose analyzer a tells stop words, which get -1.
func (t *wordTable) id(h uint64, lang uint8, a *analyzer, word []byte) int32 {
	sh := h & (wordShards - 1)
	s := &t.shards[sh]
	s.mu.Lock()
	k, found := s.find(h, lang, word)
	if !found {
		k = s.insert(t.seed, h, k, lang, word, a.stopWord(string(word)))
	}
	stop := s.stop[k/64]&(1<<(k%64)) != 0
	s.mu.Unlock()
	if stop {
		return -1
	}
	return int32(k<<wordShardBits | uint32(sh))
}

// wordHash hashes a key; its low bits choose the shard, the next the
// slot, the top byte is kept in the slot.
func wordHash(seed maphash.Seed, lang uint8, word []byte) uint64 {
	return maphash.Bytes(seed, word) ^ uint64(lang)*0x9E3779B97F4A7C15
}

// find returns the entry holding the key, or the free slot to put it in.
func (s *wordShard) find(h uint64, lang uint8, word []byte) (uint32, bool) {
	if len(s.slots) == 0 {
		s.slots = make([]uint32, 1024)
	}
	mask := uint64(len(s.slots) - 1)
	tag := uint32(h>>56) << slotIndexBits
	for i := (h >> wordShardBits) & mask; ; i = (i + 1) & mask {
		e := s.slots[i]
		if e == 0 {
			return uint32(i), false
		}
		if e&^slotIndexMask == tag && s.holds(e&slotIndexMask-1, lang, word) {
			return e&slotIndexMask - 1, true
		}
	}
}

func (s *wordShard) key(k uint32) []byte {
	start := uint32(0)
	if k > 0 {
		start = s.ends[k-1]
	}
	return s.keys[start:s.ends[k]]
}

func (s *wordShard) holds(k uint32, lang uint8, word []byte) bool {
	key := s.key(k)
	return key[0] == lang && bytes.Equal(key[1:], word)
}

// insert adds the key at free slot i and returns its entry.
func (s *wordShard) insert(seed maphash.Seed, h uint64, i uint32, lang uint8, word []byte, stop bool) uint32 {
	k := uint32(len(s.ends))
	s.keys = append(append(s.keys, lang), word...)
	s.ends = append(s.ends, uint32(len(s.keys)))
	if k%64 == 0 {
		s.stop = append(s.stop, 0)
	}
	if stop {
		s.stop[k/64] |= 1 << (k % 64)
	}
	// Keep a third of the slots free: probes stay short.
	s.slots[i] = uint32(h>>56)<<slotIndexBits | (k + 1)
	if 3*len(s.ends) > 2*len(s.slots) {
		s.rehash(seed, 2*len(s.slots))
	}
	return k
}

// rehash places every entry again in a table of n slots; the hashes come
// from the keys, so none is stored.
func (s *wordShard) rehash(seed maphash.Seed, n int) {
	s.slots = make([]uint32, n)
	mask := uint64(n - 1)
	for k := range uint32(len(s.ends)) {
		key := s.key(k)
		h := wordHash(seed, key[0], key[1:])
		i := (h >> wordShardBits) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = uint32(h>>56)<<slotIndexBits | (k + 1)
	}
}

// number stems every content word of the table once (ans[lang] reads
// language lang) and numbers the stems in sorted order, so term ids (and
// every tie broken on them) do not depend on the order in which the
// workers met the words. termOf[id] is the term of word id, -1 for a word
// whose stem is a stop word.
//
// The stems are kept the way the words are, back to back per shard, and
// only the distinct ones become strings (the vocabulary): a string per
// word would hold more than the table itself.
func (t *wordTable) number(ans []*analyzer, workers int) (vocab vocabulary, termOf []int32) {
	most := 0
	for i := range t.shards {
		most = max(most, len(t.shards[i].ends))
	}
	stems := make([]stemList, wordShards)
	parallelFor(wordShards, workers, func(lo, hi, _ int) {
		for sh := lo; sh < hi; sh++ {
			s := &t.shards[sh]
			// A stem is seldom longer than its word.
			l := stemList{ends: make([]uint32, len(s.ends)), text: make([]byte, 0, len(s.keys))}
			for k := range uint32(len(s.ends)) {
				if s.stop[k/64]&(1<<(k%64)) == 0 {
					key := s.key(k)
					l.text = append(l.text, ans[key[0]].stem(string(key[1:]))...)
				}
				l.ends[k] = uint32(len(l.text))
			}
			stems[sh] = l
			// The stems are all that is read of the shard from here.
			*s = wordShard{}
		}
	})
	stem := func(id int32) []byte {
		return stems[id&(wordShards-1)].get(uint32(id) >> wordShardBits)
	}
	n := 0
	for _, l := range stems {
		for k := range uint32(len(l.ends)) {
			if len(l.get(k)) > 0 {
				n++
			}
		}
	}
	ids := make([]int32, 0, n)
	for sh, l := range stems {
		for k := range uint32(len(l.ends)) {
			if len(l.get(k)) > 0 {
				ids = append(ids, int32(k<<wordShardBits|uint32(sh)))
			}
		}
	}
	slices.SortFunc(ids, func(a, b int32) int { return bytes.Compare(stem(a), stem(b)) })
	vocab = distinctStems(ids, stem)
	termOf = make([]int32, most<<wordShardBits)
	for i := range termOf {
		termOf[i] = -1
	}
	term := int32(-1)
	for i, id := range ids {
		if i == 0 || !bytes.Equal(stem(id), stem(ids[i-1])) {
			term++
		}
		termOf[id] = term
	}
	return vocab, termOf
}

// vocabulary is a batch's terms, by number: their stems back to back in
// one string, term t ending at ends[t]. A hundred thousand small strings
// would take three times the room.
type vocabulary struct {
	text string
	ends []uint32
}

func (v vocabulary) len() int { return len(v.ends) }

func (v vocabulary) word(t int32) string {
	start := uint32(0)
	if t > 0 {
		start = v.ends[t-1]
	}
	return v.text[start:v.ends[t]]
}

// distinctStems is the vocabulary of the distinct stems of ids (sorted by
// stem).
func distinctStems(ids []int32, stem func(int32) []byte) vocabulary {
	// Counted first, so that nothing is held at twice its size.
	n, size := 0, 0
	for i, id := range ids {
		if i == 0 || !bytes.Equal(stem(id), stem(ids[i-1])) {
			n++
			size += len(stem(id))
		}
	}
	var text strings.Builder
	text.Grow(size)
	ends := make([]uint32, 0, n)
	for i, id := range ids {
		if i == 0 || !bytes.Equal(stem(id), stem(ids[i-1])) {
			text.Write(stem(id))
			ends = append(ends, uint32(text.Len()))
		}
	}
	return vocabulary{text: text.String(), ends: ends}
}

// stemList holds the stems of one shard's words back to back; a stop
// word's is empty.
type stemList struct {
	text []byte
	ends []uint32
}

func (l stemList) get(k uint32) []byte {
	start := uint32(0)
	if k > 0 {
		start = l.ends[k-1]
	}
	return l.text[start:l.ends[k]]
}

// leadBytesPerWord bounds the text read for a lead of n content words:
// they sit well inside its first n*leadBytesPerWord bytes, and cleaning
// (or reading from the spill file) the whole of a long body for them
// would dominate.
const leadBytesPerWord = 24

// wordReader reads text into the word numbers of a table, for one
// goroutine.
type wordReader struct {
	tab     *wordTable
	scratch []byte
	// recent remembers the last word met in each of its slots (by hash):
	// most words of a text are common ones, found here without taking a
	// shard's lock, which two workers would otherwise fight over for
	// "the" and "said".
	recent []recentWord
}

type recentWord struct {
	h    uint64
	id   int32
	lang uint8
	word string
}

// recentSlots holds the commonest words of a language, about 100 kB a
// reader.
const recentSlots = 4096

func newWordReader(tab *wordTable) *wordReader {
	return &wordReader{tab: tab, recent: make([]recentWord, recentSlots)}
}

// id numbers a lower-case word (see wordTable.id).
func (r *wordReader) id(lang uint8, a *analyzer, word []byte) int32 {
	h := wordHash(r.tab.seed, lang, word)
	e := &r.recent[h&(recentSlots-1)]
	if e.h == h && e.lang == lang && e.word == string(word) && e.word != "" {
		return e.id
	}
	id := r.tab.id(h, lang, a, word)
	*e = recentWord{h: h, id: id, lang: lang, word: string(word)}
	return id
}

// terms appends the numbers of up to max content words of text (max <= 0:
// all), read by a as language lang of the table, to dst.
func (r *wordReader) terms(dst []int32, lang uint8, a *analyzer, text string, max int) []int32 {
	if max > 0 {
		text = digest.CutBytes(text, max*leadBytesPerWord)
	}
	n := 0
	scanWords(text, func(w string) bool {
		t := r.id(lang, a, r.lower(w))
		if t < 0 {
			return true
		}
		dst = append(dst, t)
		n++
		return max <= 0 || n < max
	})
	return dst
}

// lower is w in lower case, in the reader's scratch: most words are met
// again, and looking them up must not allocate.
func (r *wordReader) lower(w string) []byte {
	r.scratch = appendLower(r.scratch[:0], w)
	return r.scratch
}
