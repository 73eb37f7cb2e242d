package feedparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"
)

// errTruncated marks a feed that was cut off and parsed only in part.
var errTruncated = errors.New("truncated")

// parseTolerant reads a feed the way a forgiving reader does. gofeed is a
// strict XML reader, so a feed it refuses is repaired and tried again: the
// declared encoding (or windows-1252 for bytes that are not UTF-8) is
// transcoded to UTF-8, an end tag left open at the very end is closed, and
// as a last resort a document that is cut off keeps its complete items,
// with an error saying so. What cannot be read at all is an error and no
// feed.
func parseTolerant(p *gofeed.Parser, data []byte) (*gofeed.Feed, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("feed: empty document")
	}
	feed, firstErr := parseOnce(p, data)
	if firstErr == nil {
		return feed, nil
	}
	lastErr := firstErr
	repaired, changed := repairEncoding(data)
	if tail, ok := closeFinalTag(repaired); ok {
		repaired, changed = tail, true
	}
	if changed {
		var err error
		if feed, err = parseOnce(p, repaired); err == nil {
			return feed, nil
		}
		lastErr = err
	}
	// Last resort: keep what came before the break.
	if cut, n, ok := closeTruncated(repaired); ok {
		if feed, err := parseOnce(p, cut); err == nil {
			return feed, fmt.Errorf("feed: %w document, kept %d complete items: %s", errTruncated, n, describeParseError(repaired, lastErr))
		}
	}
	return nil, fmt.Errorf("feed: %s", describeParseError(repaired, lastErr))
}

// parseOnce runs gofeed, turning a panic inside it into an error: a
// malformed feed must never take the whole collection down.
func parseOnce(p *gofeed.Parser, data []byte) (feed *gofeed.Feed, err error) {
	defer func() {
		if r := recover(); r != nil {
			feed, err = nil, fmt.Errorf("parser panic: %v", r)
		}
	}()
	return p.Parse(bytes.NewReader(data))
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// xmlEncoding matches the XML declaration's encoding attribute, wherever the
// declaration sits in the first bytes (some feeds put a comment first).
var xmlEncoding = regexp.MustCompile(`(?i)(<\?xml[^>]*?)\s+encoding\s*=\s*["']([^"']*)["']`)

// repairEncoding returns data as clean UTF-8 with any encoding declaration
// removed, and whether anything changed.
func repairEncoding(data []byte) ([]byte, bool) {
	out := bytes.TrimPrefix(data, utf8BOM)
	head := out[:min(len(out), 1024)]
	declared := ""
	if m := xmlEncoding.FindSubmatch(head); m != nil {
		declared = strings.ToLower(strings.TrimSpace(string(m[2])))
	}
	if declared != "" && declared != "utf-8" && declared != "utf8" {
		if enc, name := charset.Lookup(declared); enc != nil && name != "utf-8" {
			if dec, err := enc.NewDecoder().Bytes(out); err == nil {
				out = dec
			}
		}
	}
	// Undeclared, declared UTF-8 or an encoding nobody knows: keep what is
	// valid UTF-8 and read each stray byte as windows-1252, by far the
	// likeliest legacy encoding (a superset of Latin-1's printable range).
	out = mixedToUTF8(out)
	// The bytes are UTF-8 now; a declaration naming anything else would make
	// the XML reader transcode them a second time.
	out = xmlEncoding.ReplaceAll(out, []byte("$1"))
	return out, !bytes.Equal(out, data)
}

// mixedToUTF8 keeps valid UTF-8 sequences and decodes every other byte as
// windows-1252, so a UTF-8 feed with a few Latin-1 bytes pasted in keeps
// both its "Ѩ" and its "España".
func mixedToUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	dec := charmap.Windows1252.NewDecoder()
	out := make([]byte, 0, len(b)+len(b)/8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			out = append(out, b[:n]...)
		} else if s, err := dec.Bytes(b[:1]); err == nil && utf8.Valid(s) {
			out = append(out, s...)
		} else {
			out = append(out, "\uFFFD"...)
		}
		b = b[n:]
	}
	return out
}

// finalTag matches an end tag left open at the very end: "</rss".
var finalTag = regexp.MustCompile(`</[A-Za-z_][\w.:-]*\s*$`)

// closeFinalTag closes an end tag that lacks only its ">"; nothing of the
// feed is lost, so this repair is silent.
func closeFinalTag(data []byte) ([]byte, bool) {
	tail := data[max(0, len(data)-64):]
	loc := finalTag.FindIndex(tail)
	if loc == nil {
		return data, false
	}
	out := bytes.TrimRight(data, " \t\r\n")
	return append(out[:len(out):len(out)], '>', '\n'), true
}

// describeParseError gives a reader a hint of what kind of breakage it is.
func describeParseError(data []byte, err error) string {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	msg := err.Error()
	switch {
	case errors.Is(err, gofeed.ErrFeedTypeNotDetected):
		return "not an RSS, Atom or JSON feed (" + msg + ")"
	case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['):
		if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "unexpected end") ||
			strings.Contains(msg, "in string literal") || !bytes.HasSuffix(trimmed, []byte("}")) {
			return "truncated JSON: " + msg
		}
		return "invalid JSON: " + msg
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "<!["):
		return "truncated or malformed XML: " + msg
	}
	return msg
}
