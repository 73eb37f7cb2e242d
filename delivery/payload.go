package delivery

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/digest-newsletter/digest/digest"
)

// payloadLevel: gzip's default. On a 10k-article digest (BenchmarkPayload)
// it gives a blob of 24-28% of the plain JSON, against 30-32% for
// BestSpeed, in 0.2-0.4 s against 0.07-0.1 s, and allocates less (5.5 MB
// against 6-10 MB: the smaller blob grows its buffer less). A freeze runs
// once per issue, beside a render and a send that take far longer, while
// the blob is what SQLite copies twice and every resume, welcome and
// archive page reads back; level 9 saves under 1% more at twice the time.
const payloadLevel = gzip.DefaultCompression

// encodePayload freezes p as gzip-compressed JSON.
//
// encoding/json marshals every value it is given whole before writing it,
// json.Encoder included, so p is written piece by piece (an article, a
// rendering at a time): the uncompressed JSON of a big digest never exists
// whole, only the compressed bytes do. The JSON is json.Marshal(p)'s up to
// whitespace (TestPayloadIsMarshalsJSON keeps it so), the format issues
// frozen before compression hold, so decodePayload reads both the same way.
func encodePayload(p payload) ([]byte, error) {
	return encodePayloadLevel(p, payloadLevel)
}

// encodePayloadLevel is encodePayload at a given gzip level, for the
// benchmark that chose payloadLevel.
func encodePayloadLevel(p payload, level int) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, fmt.Errorf("delivery: freeze: %w", err)
	}
	// The many small writes (a comma, a key) go through one buffer, not
	// each through the compressor.
	bw := bufio.NewWriterSize(zw, 32<<10)
	pw := &payloadWriter{w: bw, enc: json.NewEncoder(bw)}
	pw.payload(p)
	if pw.err == nil {
		pw.err = bw.Flush()
	}
	if err := zw.Close(); pw.err == nil {
		pw.err = err
	}
	if pw.err != nil {
		return nil, fmt.Errorf("delivery: freeze: %w", pw.err)
	}
	return buf.Bytes(), nil
}

// payloadWriter writes the JSON of a payload in pieces; the first error
// stops it and is kept.
type payloadWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

func (pw *payloadWriter) raw(s string) {
	if pw.err == nil {
		_, pw.err = pw.w.WriteString(s)
	}
}

func (pw *payloadWriter) value(v any) {
	if pw.err == nil {
		pw.err = pw.enc.Encode(v)
	}
}

// bytes writes b as json.Marshal does, in base64, without making the
// base64 text whole first: a rendering of a big issue is megabytes.
func (pw *payloadWriter) bytes(b []byte) {
	if b == nil {
		pw.raw("null")
		return
	}
	pw.raw(`"`)
	if pw.err == nil {
		enc := base64.NewEncoder(base64.StdEncoding, pw.w)
		if _, pw.err = enc.Write(b); pw.err == nil {
			pw.err = enc.Close()
		}
	}
	pw.raw(`"`)
}

func (pw *payloadWriter) payload(p payload) {
	pw.raw(`{"digest":`)
	pw.digest(p.Digest)
	pw.raw(`,"rendered":`)
	if p.Rendered == nil {
		pw.raw("null")
	} else {
		// Sorted, as json.Marshal writes a map.
		keys := slices.Sorted(maps.Keys(p.Rendered))
		pw.seq("{", "}", len(keys), func(i int) {
			pw.value(keys[i])
			pw.raw(":")
			pw.bytes(p.Rendered[keys[i]])
		})
	}
	pw.raw("}")
}

// digest writes d with digest.Digest's and digest.Topic's JSON tags; a
// field added to either must be added here (the test digest sets every
// field and compares with json.Marshal).
func (pw *payloadWriter) digest(d *digest.Digest) {
	if d == nil {
		pw.raw("null")
		return
	}
	pw.raw(`{"title":`)
	pw.value(d.Title)
	if d.Edition != "" {
		pw.raw(`,"edition":`)
		pw.value(d.Edition)
	}
	pw.raw(`,"from":`)
	pw.value(d.From)
	pw.raw(`,"to":`)
	pw.value(d.To)
	if len(d.Top) > 0 {
		pw.raw(`,"top_stories":`)
		pw.articles(d.Top)
	}
	pw.raw(`,"topics":`)
	if d.Topics == nil {
		pw.raw("null")
	} else {
		pw.seq("[", "]", len(d.Topics), func(i int) {
			t := &d.Topics[i]
			pw.raw(`{"name":`)
			pw.value(t.Name)
			if t.Auto {
				pw.raw(`,"auto":true`)
			}
			pw.raw(`,"articles":`)
			pw.articles(t.Articles)
			pw.raw("}")
		})
	}
	pw.raw(`,"errors":`)
	pw.value(d.Errors)
	pw.raw("}")
}

func (pw *payloadWriter) articles(as []digest.Article) {
	if as == nil {
		pw.raw("null")
		return
	}
	pw.seq("[", "]", len(as), func(i int) { pw.value(&as[i]) })
}

// seq writes n items between open and close, comma-separated.
func (pw *payloadWriter) seq(open, close string, n int, item func(i int)) {
	pw.raw(open)
	for i := range n {
		if i > 0 {
			pw.raw(",")
		}
		item(i)
	}
	pw.raw(close)
}

// decodePayload reads an issue's payload: gzip-compressed JSON, or the
// plain JSON of issues frozen before compression (JSON never starts with
// gzip's magic bytes). Its errors say what is wrong with the payload; the
// callers add the package and the issue.
func decodePayload(b []byte) (payload, error) {
	var p payload
	var r io.Reader = bytes.NewReader(b)
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return p, fmt.Errorf("frozen payload unreadable: %w", err)
		}
		r = zr
	}
	dec := json.NewDecoder(r)
	if err := readPayload(dec, &p); err != nil {
		return p, fmt.Errorf("frozen payload unreadable: %w", err)
	}
	// Read to the end: gzip checks its checksum there, and anything after
	// the value is as wrong as json.Unmarshal found it before.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("data after the payload")
		}
		return p, fmt.Errorf("frozen payload unreadable: %w", err)
	}
	if p.Digest == nil {
		return p, errors.New("frozen payload has no digest")
	}
	return p, nil
}

// readPayload decodes the JSON encodePayload writes (json.Marshal's) one
// article at a time: json.Decoder.Decode reads the whole value it is given
// into memory first, which for the payload is the whole uncompressed JSON
// (twice over, as its buffer doubles).
func readPayload(dec *json.Decoder, p *payload) error {
	_, err := readObject(dec, func(key string) error {
		if key != "digest" {
			return decodeField(dec, key, map[string]any{"rendered": &p.Rendered})
		}
		return readDigest(dec, &p.Digest)
	})
	return err
}

// readDigest reads what payloadWriter.digest writes; a key it does not
// know is skipped, as json.Unmarshal would.
func readDigest(dec *json.Decoder, dp **digest.Digest) error {
	d := new(digest.Digest)
	found, err := readObject(dec, func(key string) error {
		switch key {
		case "top_stories":
			return readArticles(dec, &d.Top)
		case "topics":
			return readArray(dec, &d.Topics, func() error {
				var t digest.Topic
				_, err := readObject(dec, func(key string) error {
					if key == "articles" {
						return readArticles(dec, &t.Articles)
					}
					return decodeField(dec, key, map[string]any{"name": &t.Name, "auto": &t.Auto})
				})
				d.Topics = append(d.Topics, t)
				return err
			})
		}
		return decodeField(dec, key, map[string]any{"title": &d.Title, "edition": &d.Edition, "from": &d.From, "to": &d.To, "errors": &d.Errors})
	})
	if err == nil && found {
		*dp = d
	}
	return err
}

func readArticles(dec *json.Decoder, as *[]digest.Article) error {
	return readArray(dec, as, func() error {
		var a digest.Article
		err := dec.Decode(&a)
		*as = append(*as, a)
		return err
	})
}

// decodeField decodes the value of key into its pointer in fields, or
// skips it.
func decodeField(dec *json.Decoder, key string, fields map[string]any) error {
	if v, ok := fields[key]; ok {
		return dec.Decode(v)
	}
	var skip json.RawMessage
	return dec.Decode(&skip)
}

// readObject calls field for each key of a JSON object, with the decoder
// before the key's value; false for null.
func readObject(dec *json.Decoder, field func(key string) error) (bool, error) {
	if open, err := openToken(dec, '{'); err != nil || !open {
		return false, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return true, err
		}
		key, _ := tok.(string) // the decoder allows nothing else here
		if err := field(key); err != nil {
			return true, err
		}
	}
	_, err := dec.Token()
	return true, err
}

// readArray calls elem for each element of a JSON array, leaving *s nil
// for null and empty (not nil) for [], as json.Unmarshal does.
func readArray[S ~[]E, E any](dec *json.Decoder, s *S, elem func() error) error {
	open, err := openToken(dec, '[')
	if err != nil || !open {
		return err
	}
	*s = S{}
	for dec.More() {
		if err := elem(); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// openToken reads the opening delimiter of a value, false for null.
func openToken(dec *json.Decoder, delim json.Delim) (bool, error) {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return false, err
	}
	if tok != delim {
		return false, fmt.Errorf("%v where %v was expected", tok, delim)
	}
	return true, nil
}
