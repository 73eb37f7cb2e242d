package bounce

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"regexp"
	"strings"
)

// maxPartBytes bounds what is read of any one part: reports are small, and
// the returned original is only read for its headers.
const maxPartBytes = 4 << 20

func readAllLimited(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, maxPartBytes))
}

// walker collects the parts of a report that matter, in document order.
type walker struct {
	dsn      []Recipient
	returned textproto.MIMEHeader
	texts    []string
	htmls    []string
}

func (w *walker) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	if depth > maxDepth {
		return
	}
	ct, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		ct = "text/plain"
	}
	ct = strings.ToLower(ct)
	if strings.HasPrefix(ct, "multipart/") {
		if params["boundary"] == "" {
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			w.walk(p.Header, p, depth+1)
		}
	}
	data, err := readAllLimited(decodeTransfer(h.Get("Content-Transfer-Encoding"), body))
	if err != nil && len(data) == 0 {
		return
	}
	switch ct {
	case "message/delivery-status", "message/global-delivery-status":
		w.dsn = append(w.dsn, parseDeliveryStatus(data)...)
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers":
		if w.returned == nil {
			rh, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(data, "\r\n\r\n"...)))).ReadMIMEHeader()
			if len(rh) > 0 {
				w.returned = rh
			}
		}
	case "text/plain":
		if isAttachment(h) {
			return
		}
		w.texts = append(w.texts, string(data))
	case "text/html":
		w.htmls = append(w.htmls, htmlText(string(data)))
	}
}

func isAttachment(h textproto.MIMEHeader) bool {
	d, _, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	return err == nil && strings.EqualFold(d, "attachment")
}

func decodeTransfer(enc string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &stripSpace{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// stripSpace drops the line breaks base64.NewDecoder does not skip on its
// own (it skips \r and \n, but not spaces some MTAs indent with).
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != ' ' && c != '\t' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// parseDeliveryStatus reads the body of a message/delivery-status part: a
// per-message block, then one block per recipient, separated by blank lines.
func parseDeliveryStatus(data []byte) []Recipient {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	var out []Recipient
	for _, block := range splitBlocks(text) {
		h, _ := textproto.NewReader(bufio.NewReader(strings.NewReader(block + "\n\n"))).ReadMIMEHeader()
		addr := h.Get("Final-Recipient")
		if addr == "" {
			addr = h.Get("Original-Recipient")
		}
		if addr == "" {
			continue // the per-message block
		}
		out = append(out, Recipient{
			Address:    addr,
			Status:     h.Get("Status"),
			Action:     h.Get("Action"),
			Diagnostic: diagnostic(h.Get("Diagnostic-Code")),
		})
	}
	return out
}

// splitBlocks splits on blank lines; lines of only spaces count as blank
// (seen in the wild) and several blank lines are one separator.
func splitBlocks(text string) []string {
	var blocks []string
	var cur []string
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				blocks = append(blocks, strings.Join(cur, "\n"))
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		blocks = append(blocks, strings.Join(cur, "\n"))
	}
	return blocks
}

// diagnostic drops the "smtp;" type of a Diagnostic-Code.
func diagnostic(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ';'); i >= 0 && i < 12 && !strings.ContainsAny(s[:i], " @") {
		s = strings.TrimSpace(s[i+1:])
	}
	return strings.Join(strings.Fields(s), " ")
}

var (
	reTag   = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)
	reBreak = regexp.MustCompile(`(?i)<(br|/p|/div|/tr|/li|/h\d)[^>]*>`)
)

// htmlText is a crude HTML-to-text good enough to find addresses and codes.
func htmlText(s string) string {
	s = reBreak.ReplaceAllString(s, "\n$0")
	s = reTag.ReplaceAllString(s, "")
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&quot;", `"`, "&#39;", "'", "&nbsp;", " ")
	return r.Replace(s)
}

func decodeWords(s string) string {
	d := &mime.WordDecoder{}
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}
