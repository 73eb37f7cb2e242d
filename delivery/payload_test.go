package delivery

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/store"
)

// fullDigest sets every field of digest.Digest and digest.Topic, so a
// field added to either that encodePayload does not write fails the tests.
func fullDigest(t *testing.T) *digest.Digest {
	t.Helper()
	a := digest.Article{ID: "a1", Title: `Port <expands> & "grows"`, URL: "https://a.example/1?x=1&y=2", Source: "A", Author: "Ann",
		Published: testNow.Add(-time.Hour), Summary: "Quay\u2028work.", ImageURL: "https://a.example/1.jpg",
		Also: []digest.Also{{Source: "B", URL: "https://b.example/1", Title: "Port grows"}}}
	d := &digest.Digest{Title: "Test Brief", Edition: "weekly", From: testNow.Add(-24 * time.Hour), To: testNow,
		Top: []digest.Article{a},
		Topics: []digest.Topic{
			{Name: "Economy", Articles: []digest.Article{a, {ID: "a2", Title: "Bare", Published: testNow}}},
			{Name: "Harbour works", Auto: true, Articles: []digest.Article{{ID: "a3", Title: "Dredging"}}},
		},
		Errors: []digest.SourceError{{Source: "C", Error: "timeout"}}}
	for _, v := range []reflect.Value{reflect.ValueOf(*d), reflect.ValueOf(d.Topics[1])} {
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Fatalf("test digest leaves %s.%s unset", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
	return d
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPayloadIsMarshalsJSON: the compressed payload holds the JSON that
// json.Marshal wrote before compression, so old and new payloads are one
// format to the decoder.
func TestPayloadIsMarshalsJSON(t *testing.T) {
	full := fullDigest(t)
	bare := &digest.Digest{Title: "Empty", Topics: []digest.Topic{{Name: "Nothing"}}}
	for name, p := range map[string]payload{
		"full":          {Digest: full, Rendered: map[string][]byte{"": []byte(`{"v":1}`), "Economy": {0, 1, 2, 0xff}, "A\x00B": nil}},
		"bare":          {Digest: bare},
		"no topics":     {Digest: &digest.Digest{Title: "x"}, Rendered: map[string][]byte{}},
		"empty slices":  {Digest: &digest.Digest{Top: []digest.Article{}, Topics: []digest.Topic{}, Errors: []digest.SourceError{}}},
		"nil digest":    {},
		"empty digest":  {Digest: &digest.Digest{}},
		"html escaping": {Digest: &digest.Digest{Title: "<b>&</b>", Topics: []digest.Topic{{Name: "<i>", Articles: []digest.Article{}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := encodePayload(p)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != 0x1f || b[1] != 0x8b {
				t.Fatalf("payload starts % x, not gzip", b[:2])
			}
			want, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Compact(&got, gunzip(t, b)); err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Fatalf("payload JSON\n got %s\nwant %s", got.String(), want)
			}
			if p.Digest != nil {
				sameAsUnmarshal(t, b, want)
				sameAsUnmarshal(t, want, want)
			}
		})
	}
}

// sameAsUnmarshal: decodePayload reads b as json.Unmarshal reads plain.
func sameAsUnmarshal(t *testing.T, b, plain []byte) {
	t.Helper()
	var want payload
	if err := json.Unmarshal(plain, &want); err != nil {
		t.Fatal(err)
	}
	got, err := decodePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n got %#v\nwant %#v", got, want)
	}
}

// TestPayloadSkipsUnknownKeys as json.Unmarshal does: a payload written by
// a later version still reads.
func TestPayloadSkipsUnknownKeys(t *testing.T) {
	plain := []byte(`{"v":2,"digest":{"title":"x","later":[1,{"a":[]}],"topics":[{"name":"T","new":null,"articles":[{"id":"a","title":"A","more":{}}]}]},"rendered":{"":"AAE="},"extra":"s"}`)
	sameAsUnmarshal(t, plain, plain)
}

func TestPayloadRoundTrip(t *testing.T) {
	d := fullDigest(t)
	rendered := map[string][]byte{"": []byte("whole"), "Economy": []byte("economy only")}
	b, err := encodePayload(payload{Digest: d, Rendered: rendered})
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Digest, d) {
		t.Errorf("digest\n got %+v\nwant %+v", p.Digest, d)
	}
	if !reflect.DeepEqual(p.Rendered, rendered) {
		t.Errorf("rendered = %q, want %q", p.Rendered, rendered)
	}
}

// TestPlainPayloadStillReads: issues frozen before compression hold plain
// JSON; the archive still shows them.
func TestPlainPayloadStillReads(t *testing.T) {
	d := fullDigest(t)
	old, err := json.Marshal(payload{Digest: d, Rendered: map[string][]byte{"": []byte("whole")}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := FrozenDigest(old)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("digest\n got %+v\nwant %+v", got, d)
	}
}

func TestCorruptPayloadIsAnError(t *testing.T) {
	good, err := encodePayload(payload{Digest: bigDigest(200)})
	if err != nil {
		t.Fatal(err)
	}
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-6] ^= 0x01 // the CRC-32 in the trailer
	for name, b := range map[string][]byte{
		"empty":             nil,
		"magic only":        {0x1f, 0x8b},
		"truncated gzip":    good[:len(good)/2],
		"no trailer":        good[:len(good)-8],
		"flipped byte":      flipped,
		"bad checksum":      badCRC,
		"gzip of non-JSON":  gz("not json"),
		"gzip of no digest": gz(`{"rendered":{}}`),
		"gzip, data after":  gz(`{"digest":{"title":"x"}} {}`),
		"plain garbage":     []byte("\x00\x01frozen"),
		"plain no digest":   []byte(`{"digest":null}`),
	} {
		t.Run(name, func(t *testing.T) {
			d, err := FrozenDigest(b)
			if err == nil {
				t.Fatalf("no error; digest %+v", d)
			}
			if !strings.HasPrefix(err.Error(), "delivery: ") {
				t.Errorf("error %q lacks the package", err)
			}
			if _, err := join(storeIssue(7, b), &Summary{}); err == nil || !strings.HasPrefix(err.Error(), "delivery: issue 7: ") {
				t.Errorf("join: %v", err)
			}
		})
	}
}

// TestPayloadIsSmall: a big digest's payload is at most a third of its
// plain JSON, which SQLite copies twice on insert.
func TestPayloadIsSmall(t *testing.T) {
	p := payload{Digest: bigDigest(3000), Rendered: map[string][]byte{}}
	plain, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3000 articles: plain JSON %d bytes, payload %d (%.1f%%)", len(plain), len(b), 100*float64(len(b))/float64(len(plain)))
	if len(b)*3 > len(plain) {
		t.Fatalf("payload %d bytes, more than a third of the plain %d", len(b), len(plain))
	}
}

// bigDigest is n articles of made-up prose in 12 topics: words drawn from
// a vocabulary with a Zipf law, as in news text, so it compresses roughly
// as news does and not as a repeated string would.
func bigDigest(n int) *digest.Digest {
	rng := rand.New(rand.NewPCG(1, 2))
	syllables := strings.Fields("an ber cal de el fo gri ha in jo ka lo mi ne or pa qui ra si tu un ve wa xo yi zu ment tion ster ing ly")
	vocab := make([]string, 6000)
	for i := range vocab {
		var w strings.Builder
		for range 1 + rng.IntN(3) {
			w.WriteString(syllables[rng.IntN(len(syllables))])
		}
		vocab[i] = w.String()
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, uint64(len(vocab)-1))
	words := func(k int) string {
		ws := make([]string, k)
		for i := range ws {
			ws[i] = vocab[zipf.Uint64()]
		}
		return strings.Join(ws, " ")
	}
	d := &digest.Digest{Title: "The Region Brief", Edition: "daily", From: testNow.Add(-24 * time.Hour), To: testNow}
	for i := range 12 {
		d.Topics = append(d.Topics, digest.Topic{Name: fmt.Sprintf("Topic %d", i), Auto: i > 8})
	}
	for i := range n {
		src := fmt.Sprintf("source%02d", rng.IntN(60))
		title := words(6 + rng.IntN(8))
		a := digest.Article{
			ID:    fmt.Sprintf("https://%s.example/%d/%s", src, 100000+rng.IntN(900000), strings.ReplaceAll(title, " ", "-")),
			Title: title, Source: "The " + src + " Times", Published: testNow.Add(-time.Duration(rng.IntN(86400)) * time.Second),
			Summary: words(40+rng.IntN(50)) + ".",
		}
		a.URL = a.ID
		if i%4 == 0 {
			a.Author = words(2)
		}
		if i%5 == 0 {
			a.Also = []digest.Also{{Source: "Other", URL: fmt.Sprintf("https://other.example/%d", i), Title: words(7)}}
		}
		t := &d.Topics[rng.IntN(len(d.Topics))]
		t.Articles = append(t.Articles, a)
	}
	return d
}

func storeIssue(id int64, payload []byte) store.Issue { return store.Issue{ID: id, Payload: payload} }

// TestPlainPayloadIssueResumesAndWelcomes: an issue frozen before
// compression (its payload plain JSON) is resumed from its frozen
// renderings, and welcomes new readers with them.
func TestPlainPayloadIssueResumesAndWelcomes(t *testing.T) {
	const n = 10
	f := newFixture(t, n)
	ctx := context.Background()
	s := f.sender
	d, err := s.build(ctx, "weekly", testNow.Add(-s.o.Window), testNow)
	if err != nil {
		t.Fatal(err)
	}
	d.Edition = "weekly"
	is := &frozen{digest: d, Issue: store.Issue{Edition: "weekly", WindowFrom: testNow.Add(-s.o.Window), WindowTo: testNow,
		Status: store.IssueSending, Created: testNow, Articles: d.Count()}}
	if err := s.freeze(ctx, is); err != nil {
		t.Fatal(err)
	}
	// What freeze stored before payloads were compressed.
	if is.Payload, err = json.Marshal(payload{Digest: is.digest, Rendered: is.rendered}); err != nil {
		t.Fatal(err)
	}
	created, err := f.st.CreateIssue(ctx, is.Issue, "weekly")
	if err != nil {
		t.Fatal(err)
	}
	// A theme edit after the freeze: what goes out must still be the
	// renderings frozen in the plain payload.
	theme := f.cfg.Theme
	theme.FooterText = "CHANGED FOOTER"
	r2, err := render.New(render.Options{Newsletter: f.cfg.Newsletter, Theme: theme})
	if err != nil {
		t.Fatal(err)
	}
	s.o.Renderer = r2

	w, err := NewWelcomer(WelcomeOptions{Editions: s.o.Editions, Store: f.st, Renderer: r2, Links: s.o.Links, Now: s.o.Now})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := f.st.SubscriberByEmail(ctx, reader(0)) // Economy only
	if err != nil {
		t.Fatal(err)
	}
	m, ok, err := w.Welcome(ctx, sub)
	if err != nil || !ok {
		t.Fatalf("welcome: %v, %v", ok, err)
	}
	if html := string(m.HTML); !strings.Contains(html, "Port to expand") || strings.Contains(html, "Coast patrol") || strings.Contains(html, "CHANGED FOOTER") {
		t.Fatalf("welcome not from the frozen Economy rendering:\n%s", html)
	}

	sum, err := s.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Resumed || sum.Issue != created.ID || sum.Sent != n || f.builds != 1 {
		t.Fatalf("summary %+v after %d builds: want issue %d resumed and sent to %d", sum, f.builds, created.ID, n)
	}
	for i, c := range f.counts(n) {
		if c != 1 {
			t.Errorf("%s got %d", reader(i), c)
		}
	}
	for _, m := range f.srv.Messages() {
		if !strings.Contains(string(m.Data), "Port to expand") || strings.Contains(string(m.Data), "CHANGED FOOTER") {
			t.Fatalf("message to %v not from the frozen renderings:\n%s", m.To, m.Data)
		}
	}
}
