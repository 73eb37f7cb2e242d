package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// feed is one document served by the bench's feed hosts.
type feed struct {
	name string // the [[sources]] name
	path string // URL path on its host
	body []byte
	kind string // content type
}

// host is one loopback HTTP server standing in for one feed site; every
// response waits latency first, as a distant server would.
type host struct {
	srv   *httptest.Server
	feeds map[string]*feed
}

func newHost(latency time.Duration) *host {
	h := &host{feeds: map[string]*feed{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		f, ok := h.feeds[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.kind)
		w.Write(f.body)
	}))
	return h
}

// source is a feed as the config and the baseline see it.
type source struct {
	name, url string
}

// farm is every feed of the benchmark, spread over hosts the way a real
// subscription list is: each real feed on a host of its own, the synthetic
// ones perHost to a host (a site with several section feeds).
type farm struct {
	hosts   []*host
	sources []source
	items   int // items in the synthetic feeds (the real ones vary)
}

func newFarm(realDir string, synthetic, items, perHost int, latency time.Duration) (*farm, error) {
	f := &farm{}
	files, _ := filepath.Glob(filepath.Join(realDir, "*"))
	for _, p := range files {
		ext := filepath.Ext(p)
		if ext != ".xml" && ext != ".json" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		kind := "application/xml"
		if ext == ".json" {
			kind = "application/feed+json"
		}
		h := newHost(latency)
		f.hosts = append(f.hosts, h)
		f.add(h, &feed{name: filepath.Base(p), path: "/" + filepath.Base(p), body: data, kind: kind})
	}
	if len(f.sources) == 0 {
		return nil, fmt.Errorf("no feeds in %s (run from the repository root)", realDir)
	}
	gen := newTextGen(rand.New(rand.NewPCG(14, 500)), 200)
	var h *host
	now := time.Now().UTC()
	for i := range synthetic {
		if i%perHost == 0 {
			h = newHost(latency)
			f.hosts = append(f.hosts, h)
		}
		name := fmt.Sprintf("Synthetic %03d", i)
		body := syntheticRSS(gen, name, h.srv.URL, i, items, now)
		f.add(h, &feed{name: name, path: fmt.Sprintf("/section-%d/rss.xml", i), body: body, kind: "application/rss+xml"})
	}
	f.items = items
	return f, nil
}

func (f *farm) add(h *host, fd *feed) {
	h.feeds[fd.path] = fd
	f.sources = append(f.sources, source{name: fd.name, url: h.srv.URL + fd.path})
}

func (f *farm) close() {
	for _, h := range f.hosts {
		h.srv.Close()
	}
}

// Item text mixes three kinds of words, as news does: common words drawn
// from a large vocabulary by a Zipf law, words of the item's topic (so the
// digest's automatic topics have something to find), and a handful of
// names of its own story (so distinct stories stay distinct, and the few
// stories that several feeds report merge).
var topics = [][]string{
	strings.Fields("election parliament minister vote coalition party campaign ballot senate policy reform opposition"),
	strings.Fields("inflation bank rates market shares investors economy growth budget tax trade tariffs"),
	strings.Fields("match league goal season coach striker final championship transfer stadium injury referee"),
	strings.Fields("storm flood rainfall climate emissions drought wildfire heatwave forecast glacier carbon warming"),
	strings.Fields("software release kernel browser security patch vulnerability developers compiler database cloud server"),
	strings.Fields("hospital vaccine patients doctors health virus treatment trial cancer nurses clinic outbreak"),
	strings.Fields("film festival album concert director actor premiere gallery novel theatre orchestra award"),
	strings.Fields("police court trial judge prison arrest investigation fraud verdict lawyers appeal sentence"),
}

var syllables = strings.Fields("ka lo ven tar mi ro sel an dor bri que tho ul nes gra fen pol ri da mor ste vi lan cor")

// pseudoWord is a made-up word, distinct for distinct n.
func pseudoWord(n int) string {
	var b strings.Builder
	for {
		b.WriteString(syllables[n%len(syllables)])
		n /= len(syllables)
		if n == 0 {
			return b.String()
		}
	}
}

// story is one event; several feeds may report it.
type story struct {
	topic []string
	names []string
}

type textGen struct {
	rng    *rand.Rand
	zipf   *rand.Zipf
	shared []story // stories several feeds report
	nextID int
}

func newTextGen(rng *rand.Rand, shared int) *textGen {
	g := &textGen{rng: rng, zipf: rand.NewZipf(rng, 1.1, 2, 20000)}
	for range shared {
		g.shared = append(g.shared, g.newStory())
	}
	return g
}

// newStory is a story with names of its own: capitalised pseudo-words
// beyond the common vocabulary's range.
func (g *textGen) newStory() story {
	s := story{topic: topics[g.rng.IntN(len(topics))]}
	for range 6 {
		w := pseudoWord(100000 + g.nextID)
		g.nextID++
		s.names = append(s.names, strings.ToUpper(w[:1])+w[1:])
	}
	return s
}

func (g *textGen) words(s story, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch r := g.rng.IntN(10); {
		case r < 2:
			b.WriteString(s.names[g.rng.IntN(len(s.names))])
		case r < 4:
			b.WriteString(s.topic[g.rng.IntN(len(s.topic))])
		default:
			b.WriteString(pseudoWord(int(g.zipf.Uint64())))
		}
	}
	return b.String()
}

// syntheticRSS is an RSS 2.0 feed of n items whose descriptions are HTML
// of the size and shape news feeds carry: a few paragraphs, a link, an
// image, some inline markup and entities.
func syntheticRSS(g *textGen, name, site string, feedNo, n int, now time.Time) []byte {
	rng := g.rng
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>%s</title><link>%s/section-%d/</link><description>Synthetic feed</description>
`, name, site, feedNo)
	for i := range n {
		// One item in ten reports a story other feeds report too.
		st := g.shared[rng.IntN(len(g.shared))]
		if rng.IntN(10) > 0 {
			st = g.newStory()
		}
		title := g.words(st, 6+rng.IntN(6))
		link := fmt.Sprintf("%s/section-%d/story-%d.html?utm_source=rss", site, feedNo, i)
		date := now.Add(-time.Duration(rng.IntN(6*24*60)) * time.Minute).Format(time.RFC1123Z)
		var d strings.Builder
		fmt.Fprintf(&d, `<p><img src="%s/img/%d-%d.jpg" alt="" width="640"> <strong>%s</strong> &mdash; %s.</p>`,
			site, feedNo, i, g.words(st, 4), g.words(st, 30))
		for range 1 + rng.IntN(3) {
			fmt.Fprintf(&d, `<p>%s <a href="%s/related/%d">%s</a> %s &amp; %s.</p>`,
				g.words(st, 25), site, rng.IntN(1000), g.words(st, 3), g.words(st, 20), g.words(st, 5))
		}
		fmt.Fprintf(&b, "<item><title>%s</title><link>%s</link><guid isPermaLink=\"false\">%s-%d</guid><pubDate>%s</pubDate><dc:creator>Reporter %d</dc:creator><category>%s</category><description><![CDATA[%s]]></description></item>\n",
			title, link, name, i, date, rng.IntN(40), st.topic[0], d.String())
	}
	b.WriteString("</channel></rss>\n")
	return []byte(b.String())
}
