package render

import (
	"strings"
	"unicode/utf8"
)

// wrapWidth is the plain-text line length: 78 leaves room for a quoting
// "> " within the 80 columns mail readers assume.
const wrapWidth = 78

// wrapText word-wraps every line longer than width. A continuation keeps the
// line's indent, plus two columns under a "* " or "- " bullet, so lists stay
// readable. A word longer than width (a URL) gets a line of its own and is
// never broken, so it stays clickable. The "-- " signature separator keeps
// its trailing space. Runs of blank lines become one, so templates can be
// laid out for reading without counting newlines; leading blank lines go.
func wrapText(s string, width int) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/16)
	lines := strings.Split(s, "\n")
	blank, started := false, false
	for _, line := range lines {
		if line != "-- " {
			line = strings.TrimRight(line, " \t\r")
		}
		if line == "" {
			blank = started
			continue
		}
		if started {
			b.WriteByte('\n')
			if blank {
				b.WriteByte('\n')
			}
		}
		started, blank = true, false
		if utf8.RuneCountInString(line) <= width {
			b.WriteString(line)
			continue
		}
		rest := strings.TrimLeft(line, " ")
		indent := line[:len(line)-len(rest)]
		cont := indent
		if strings.HasPrefix(rest, "* ") || strings.HasPrefix(rest, "- ") {
			cont += "  "
		}
		b.WriteString(indent)
		col := len(indent)
		first := true
		for _, w := range strings.Fields(rest) {
			wl := utf8.RuneCountInString(w)
			if !first && col+1+wl > width {
				b.WriteByte('\n')
				b.WriteString(cont)
				col = len(cont)
				first = true
			}
			if !first {
				b.WriteByte(' ')
				col++
			}
			b.WriteString(w)
			col += wl
			first = false
		}
	}
	if started {
		b.WriteByte('\n')
	}
	return b.String()
}
