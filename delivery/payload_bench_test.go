package delivery

import (
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
)

// BenchmarkPayload freezes a 10k-article digest (made-up prose, and the
// BBC news texts of ../shared/testdata when they are there) with the
// whole-digest rendering, at several gzip levels and as the plain JSON of
// before; it reports the blob's size and B/op, the memory a freeze takes.
//
//	go test -run '^$' -bench Payload -benchmem ./delivery
func BenchmarkPayload(b *testing.B) {
	digests := map[string]*digest.Digest{"synthetic": bigDigest(10000)}
	if d, err := bbcDigest("../../shared/testdata/news/bbc-news-articles.csv", 10000); err == nil {
		digests["bbc"] = d
	} else {
		b.Logf("no BBC texts: %v", err)
	}
	r, err := render.New(render.Options{Newsletter: config.Default().Newsletter, Theme: config.Default().Theme, Now: func() time.Time { return testNow }})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"synthetic", "bbc"} {
		d := digests[name]
		if d == nil {
			continue
		}
		rd, err := r.Render(d, nil)
		if err != nil {
			b.Fatal(err)
		}
		frozen, err := rd.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		p := payload{Digest: d, Rendered: map[string][]byte{"": frozen}}
		plain, err := json.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/plain", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(plain)), "bytes")
		})
		for _, level := range []int{gzip.HuffmanOnly, gzip.BestSpeed, 3, gzip.DefaultCompression, gzip.BestCompression} {
			b.Run(fmt.Sprintf("%s/level%d", name, level), func(b *testing.B) {
				b.ReportAllocs()
				var out []byte
				for b.Loop() {
					if out, err = encodePayloadLevel(p, level); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(out)), "bytes")
				b.ReportMetric(100*float64(len(out))/float64(len(plain)), "%plain")
			})
		}
		gz, err := encodePayload(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/unmarshal-plain", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var p payload
				if err := json.Unmarshal(plain, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodePayload(gz); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bbcDigest is n articles from the BBC news texts (repeated with new IDs
// when there are fewer), their text cut as a feed summary is.
func bbcDigest(path string, n int) (*digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		return nil, fmt.Errorf("%s: %d rows, %v", path, len(rows), err)
	}
	rows = rows[1:] // category,id,title,text
	d := &digest.Digest{Title: "The Region Brief", Edition: "daily", From: testNow.Add(-24 * time.Hour), To: testNow}
	topic := map[string]int{}
	for i := range n {
		row := rows[i%len(rows)]
		k, ok := topic[row[0]]
		if !ok {
			k = len(d.Topics)
			topic[row[0]] = k
			d.Topics = append(d.Topics, digest.Topic{Name: row[0]})
		}
		summary := row[3]
		if len(summary) > 300 {
			summary = summary[:strings.LastIndexByte(summary[:300], ' ')] + "…"
		}
		u := fmt.Sprintf("https://www.bbc.example/news/%s/%d/%s", row[0], i, row[1])
		d.Topics[k].Articles = append(d.Topics[k].Articles, digest.Article{ID: u, URL: u, Title: row[2], Source: "BBC News",
			Published: testNow.Add(-time.Duration(i) * time.Second), Summary: summary})
	}
	return d, nil
}
