package stories

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
)

// benchCorpus makes n articles of about 300 words over 8 topics, each
// topic with its own words and a Zipf-like share of common words, so the
// shapes (vocabulary, document frequencies) resemble news.
func benchCorpus(n int, seed uint64) []digest.Article {
	rng := rand.New(rand.NewPCG(seed, 3))
	common := rand.NewZipf(rand.New(rand.NewPCG(seed, 4)), 1.1, 1, 20000)
	word := func(topic int) string {
		if rng.IntN(10) < 6 {
			return fmt.Sprintf("common%d", common.Uint64())
		}
		return fmt.Sprintf("topic%dword%d", topic, rng.IntN(400))
	}
	out := make([]digest.Article, n)
	for i := range out {
		topic := rng.IntN(8)
		var title, body []string
		for range 8 {
			title = append(title, word(topic))
		}
		for range 300 {
			body = append(body, word(topic))
		}
		out[i] = art(fmt.Sprintf("Outlet %d", rng.IntN(30)), fmt.Sprintf("https://example.org/%d", i),
			strings.Join(title, " "), strings.Join(body, " "), time.Duration(rng.IntN(7*24))*time.Hour)
	}
	return out
}

func BenchmarkMerge(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		in := benchCorpus(n, 1)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				Merge(in, Options{})
			}
		})
	}
}

func BenchmarkAutoTopics(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		in := benchCorpus(n, 1)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				AutoTopics(in, Options{})
			}
		})
	}
}

// BenchmarkTokenize reports the analyzer's throughput against a plain
// strings.Fields split of the same text, the baseline it cannot beat.
func BenchmarkTokenize(b *testing.B) {
	in := benchCorpus(200, 2)
	var size int64
	for _, a := range in {
		size += int64(a.Body.Len())
	}
	b.Run("fields-baseline", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			for _, a := range in {
				_ = strings.Fields(a.Body.String())
			}
		}
	})
	b.Run("analyzer", func(b *testing.B) {
		b.SetBytes(size)
		an := newAnalyzer(languages().named("english"), nil)
		r := newWordReader(newWordTable())
		var buf []int32
		for b.Loop() {
			for _, a := range in {
				buf = r.terms(buf[:0], 0, an, a.Body.String(), 0)
			}
		}
	})
}
