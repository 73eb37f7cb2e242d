package render

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// slot is a per-recipient value spliced into a rendered body.
type slot uint8

const (
	slotNone slot = iota
	slotName
	slotEmail
	slotUnsub
	slotPrefs
	numSlots
)

// slotLetters name the slots inside a sentinel.
const slotLetters = "-neup"

// Worst-case bytes of one spliced value in the HTML, for HTMLSize: a name is
// cut to maxNameRunes and each rune escapes to at most 5 bytes ("&#34;");
// an address is at most 254 bytes; URLs are ours and assumed under 1 KiB
// escaped.
const (
	maxNameRunes  = 64
	maxEmailBytes = 254
	worstName     = maxNameRunes * 5
	worstEmail    = maxEmailBytes * 5
	worstURL      = 1024
)

// Recipient is what differs between two copies of one rendered issue.
type Recipient struct {
	Name, Email, UnsubscribeURL, PreferencesURL string
}

// segment is literal bytes followed by a slot (slotNone after the last).
type segment struct {
	lit  []byte
	slot slot
}

type body struct {
	segs   []segment
	static int           // bytes of literal text
	count  [numSlots]int // occurrences of each slot
}

// Rendered is one issue rendered for one topic set, ready to personalise.
type Rendered struct {
	Subject, Preheader string
	// Articles is the number of articles shown; Truncated reports that some
	// were left out (max_per_topic or max_html_bytes) and the email links
	// to the web for them; PerTopic is the cap that was applied.
	Articles  int
	Truncated bool
	PerTopic  int

	html, text body
	fallback   string // name when the recipient has none
	baseURL    string // stands in for a missing or unsafe link
}

// newNonce makes the sentinels of one Render unguessable, so article text
// cannot smuggle in a sentinel and have a recipient's address spliced into
// it. Only letters and digits: they pass html/template's URL and HTML
// escapers, the inliner and the text wrapper unchanged.
func newNonce() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("render: nonce: %w", err)
	}
	return "zq" + hex.EncodeToString(b[:]), nil
}

func sentinel(nonce string, s slot) string {
	return nonce + string(slotLetters[s]) + "qz"
}

// split cuts a rendered body at its sentinels.
func split(b []byte, nonce string) body {
	var out body
	n := []byte(nonce)
	for {
		i := bytes.Index(b, n)
		if i < 0 {
			break
		}
		rest := b[i+len(n):]
		s := slotNone
		if len(rest) >= 3 && rest[1] == 'q' && rest[2] == 'z' {
			if j := strings.IndexByte(slotLetters[1:], rest[0]); j >= 0 {
				s = slot(j + 1)
			}
		}
		if s == slotNone {
			// Not one of ours after all: keep it as text.
			out.segs = append(out.segs, segment{lit: b[:i+len(n)]})
			out.static += i + len(n)
			b = rest
			continue
		}
		out.segs = append(out.segs, segment{lit: b[:i], slot: s})
		out.static += i
		out.count[s]++
		b = rest[3:]
	}
	out.segs = append(out.segs, segment{lit: b})
	out.static += len(b)
	return out
}

// HTMLSize is the worst-case size of the HTML part for any recipient (names
// up to 64 characters, addresses up to 254, links up to 1 KiB escaped). It
// is what Render keeps under theme.max_html_bytes.
func (r *Rendered) HTMLSize() int {
	h := &r.html
	return h.static + h.count[slotName]*worstName + h.count[slotEmail]*worstEmail +
		(h.count[slotUnsub]+h.count[slotPrefs])*worstURL
}

// Personalize fills in one recipient. It runs no template and no inliner:
// it copies precomputed segments and escapes four short values (for HTML;
// the text part gets them raw), in a single allocation shared by both
// results.
func (r *Rendered) Personalize(p Recipient) (html, text []byte) {
	v := r.values(p)
	nh, nt := r.html.static, r.text.static
	for s := slotName; s < numSlots; s++ {
		nh += r.html.count[s] * v.esc[s]
		nt += r.text.count[s] * len(v.raw[s])
	}
	buf := make([]byte, 0, nh+nt)
	for _, sg := range r.html.segs {
		buf = append(buf, sg.lit...)
		if sg.slot != slotNone {
			buf = appendEscaped(buf, v.raw[sg.slot], v.esc[sg.slot] == len(v.raw[sg.slot]))
		}
	}
	for _, sg := range r.text.segs {
		buf = append(buf, sg.lit...)
		if sg.slot != slotNone {
			buf = append(buf, v.raw[sg.slot]...)
		}
	}
	return buf[:nh:nh], buf[nh:]
}

// Segment is literal text followed by a slot, the place of one
// per-recipient value: Slot n is filled with value n of Values; 0 means
// none (after the last literal).
type Segment struct {
	Text []byte
	Slot int
}

// Parts returns the HTML and plain-text parts as literal text and slots,
// for a sender that lays the message out once per rendering (encoding it
// once) and fills in each recipient's Values. The literals are shared:
// callers must not modify them.
func (r *Rendered) Parts() (html, text []Segment) {
	return r.html.parts(), r.text.parts()
}

func (b *body) parts() []Segment {
	out := make([]Segment, len(b.segs))
	for i, sg := range b.segs {
		out[i] = Segment{Text: sg.lit, Slot: int(sg.slot)}
	}
	return out
}

// Values returns p's values by slot number: for the HTML part escaped for
// HTML text and attributes, for the text part as they are. Filling the
// slots of Parts with them gives exactly what Personalize returns.
func (r *Rendered) Values(p Recipient) (html, text []string) {
	v := r.values(p)
	both := make([]string, 2*numSlots)
	html, text = both[:numSlots:numSlots], both[numSlots:]
	for s := slotName; s < numSlots; s++ {
		text[s] = v.raw[s]
		html[s] = v.raw[s]
		if v.esc[s] != len(v.raw[s]) {
			html[s] = string(appendEscaped(make([]byte, 0, v.esc[s]), v.raw[s], false))
		}
	}
	return html, text
}

// slotValues are a recipient's cleaned values and their escaped lengths.
type slotValues struct {
	raw [numSlots]string
	esc [numSlots]int
}

func (r *Rendered) values(p Recipient) slotValues {
	name := cleanLine(p.Name, maxNameRunes)
	if name == "" {
		name = r.fallback
	}
	v := slotValues{raw: [numSlots]string{
		slotName:  name,
		slotEmail: cleanLine(p.Email, maxEmailBytes),
		slotUnsub: safeURL(p.UnsubscribeURL, r.baseURL),
		slotPrefs: safeURL(p.PreferencesURL, r.baseURL),
	}}
	for s := slotName; s < numSlots; s++ {
		v.esc[s] = escapedLen(v.raw[s])
	}
	return v
}

// cleanLine makes a value safe for one line: control characters become
// spaces, the ends are trimmed and it is cut at maxRunes. It allocates only
// when it changes something.
func cleanLine(s string, maxRunes int) string {
	clean := true
	for _, c := range s {
		if unicode.IsControl(c) || c == utf8.RuneError {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(c rune) rune {
			if unicode.IsControl(c) || c == utf8.RuneError {
				return ' '
			}
			return c
		}, s)
		s = strings.Join(strings.Fields(s), " ")
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxRunes {
		n := 0
		for i := range s {
			if n == maxRunes {
				s = strings.TrimSpace(s[:i])
				break
			}
			n++
		}
	}
	return s
}

// safeURL keeps http(s) and mailto links; anything else (empty, javascript:)
// becomes the newsletter's base URL, so a caller's mistake cannot put a
// script link or a dead link in front of every reader.
func safeURL(u, fallback string) string {
	u = strings.TrimSpace(u)
	for _, p := range []string{"https://", "http://", "mailto:"} {
		if len(u) > len(p) && strings.EqualFold(u[:len(p)], p) {
			for i := 0; i < len(u); i++ {
				if u[i] < 0x21 || u[i] == 0x7f {
					return fallback
				}
			}
			return u
		}
	}
	return fallback
}

// escapedLen is the length of s after appendEscaped.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&', '\'', '"':
			n += 4 // &amp; &#39; &#34;
		case '<', '>':
			n += 3 // &lt; &gt;
		}
	}
	return n
}

// appendEscaped escapes for both HTML text and quoted attribute values.
func appendEscaped(b []byte, s string, plain bool) []byte {
	if plain {
		return append(b, s...)
	}
	last := 0
	for i := 0; i < len(s); i++ {
		var e string
		switch s[i] {
		case '&':
			e = "&amp;"
		case '\'':
			e = "&#39;"
		case '"':
			e = "&#34;"
		case '<':
			e = "&lt;"
		case '>':
			e = "&gt;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, e...)
		last = i + 1
	}
	return append(b, s[last:]...)
}
