package config

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyLines finds the line of every key in a TOML document, for messages.
//
// BurntSushi/toml v1.6 records key positions while parsing but exports them
// only inside a ParseError (MetaData has Keys, Type and IsDefined, no
// position), so this scanner reads TOML's lexical structure itself: basic,
// literal and multi-line strings, comments, arrays and inline tables, dotted
// and quoted keys. A "[smtp]" inside a """string""" is text, not a table.
// TestKeyLinesFindsEveryParserKey checks it against the parser's own keys.
//
// Every key is recorded twice, at its first occurrence: with array indices
// ("editions.1.schedule", "topics.0.keywords.2"), as problems name it, and
// without ("editions.schedule"), as the example-config test asks for it.
// Keys are spelled as toml.Key.String spells them, so quoted keys match the
// parser's. A document that is not TOML gets a best effort, never a panic.
func keyLines(src string) map[string]int {
	s := &lineScanner{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	for s.pos < len(s.src) {
		s.skipSpace(true)
		if s.pos >= len(s.src) {
			break
		}
		start := s.pos
		switch {
		case strings.HasPrefix(s.src[s.pos:], "[["):
			s.header(true)
		case s.src[s.pos] == '[':
			s.header(false)
		default:
			s.keyValue(s.table, s.plain)
		}
		if s.pos == start {
			s.skipLine() // not TOML here: go on at the next line
		}
	}
	return s.lines
}

type lineScanner struct {
	src   string
	pos   int
	line  int
	lines map[string]int
	// arrays counts the elements of each array of tables, by indexed key.
	arrays map[string]int
	// table is the current table with indices ("editions", "1"), plain
	// the same without them.
	table, plain []string
}

func (s *lineScanner) record(path []string, line int) {
	if len(path) == 0 {
		return
	}
	k := toml.Key(path).String()
	if _, ok := s.lines[k]; !ok {
		s.lines[k] = line
	}
}

// header reads "[a.b]" or, with array set, "[[a.b]]".
func (s *lineScanner) header(array bool) {
	line := s.line
	open := 1
	if array {
		open = 2
	}
	s.pos += open
	k := s.key()
	s.skipSpace(false)
	for i := 0; i < open && s.peek() == ']'; i++ {
		s.pos++
	}
	if len(k) == 0 {
		return
	}
	var table []string
	if array {
		table = append(s.resolve(k[:len(k)-1]), k[len(k)-1])
		id := toml.Key(table).String()
		s.record(table, line)
		table = append(table, strconv.Itoa(s.arrays[id]))
		s.arrays[id]++
	} else {
		table = s.resolve(k)
	}
	for i := 1; i < len(k); i++ { // implicit parents: the nearest line is better than none
		s.record(k[:i], line)
	}
	s.table, s.plain = table, k
	s.record(table, line)
	s.record(k, line)
}

// resolve adds the current index after each part that names an array of
// tables: in [editions.sub] after two [[editions]], editions is editions.1.
func (s *lineScanner) resolve(parts []string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p)
		if n, ok := s.arrays[toml.Key(out).String()]; ok {
			out = append(out, strconv.Itoa(n-1))
		}
	}
	return out
}

// keyValue reads `key = value` inside the table at path (plain: the same
// without indices).
func (s *lineScanner) keyValue(path, plain []string) {
	line := s.line
	k := s.key()
	if len(k) == 0 {
		return
	}
	s.skipSpace(false)
	if s.peek() != '=' {
		return
	}
	s.pos++
	s.skipSpace(false)
	full := append(append([]string{}, path...), k...)
	fullPlain := append(append([]string{}, plain...), k...)
	s.record(full, line)
	s.record(fullPlain, line)
	s.value(full, fullPlain)
}

// key reads a dotted key of bare and quoted parts.
func (s *lineScanner) key() []string {
	var parts []string
	for {
		s.skipSpace(false)
		var part string
		switch c := s.peek(); {
		case c == '"':
			part = unquoteBasic(s.str('"'))
		case c == '\'':
			part = strings.Trim(s.str('\''), "'")
		case isBare(c):
			start := s.pos
			for s.pos < len(s.src) && isBare(s.src[s.pos]) {
				s.pos++
			}
			part = s.src[start:s.pos]
		default:
			return parts
		}
		parts = append(parts, part)
		s.skipSpace(false)
		if s.peek() != '.' {
			return parts
		}
		s.pos++
	}
}

// value skips one value, recording the keys of inline tables and the
// elements of arrays under path.
func (s *lineScanner) value(path, plain []string) {
	switch c := s.peek(); c {
	case '"', '\'':
		s.str(c)
	case '[':
		s.array(path, plain)
	case '{':
		s.inlineTable(path, plain)
	default: // number, boolean, date: up to the next delimiter
		for s.pos < len(s.src) && !strings.ContainsRune(",]}#\n", rune(s.src[s.pos])) {
			s.pos++
		}
	}
}

func (s *lineScanner) array(path, plain []string) {
	s.pos++ // [
	for i := 0; ; i++ {
		s.skipSpace(true)
		if s.pos >= len(s.src) {
			return
		}
		if s.src[s.pos] == ']' {
			s.pos++
			return
		}
		elem := append(append([]string{}, path...), strconv.Itoa(i))
		s.record(elem, s.line)
		start := s.pos
		s.value(elem, plain)
		s.skipSpace(true)
		if s.peek() == ',' {
			s.pos++
		} else if s.pos == start {
			return // not a value: leave it to the caller
		}
	}
}

func (s *lineScanner) inlineTable(path, plain []string) {
	s.pos++ // {
	for {
		s.skipSpace(true) // TOML 1.1 allows newlines here
		switch s.peek() {
		case 0:
			return
		case '}':
			s.pos++
			return
		case ',':
			s.pos++
			continue
		}
		start := s.pos
		s.keyValue(path, plain)
		if s.pos == start {
			return
		}
	}
}

// str skips a string opened by q (" or '), single- or multi-line, and
// returns its raw text with the quotes.
func (s *lineScanner) str(q byte) string {
	start := s.pos
	triple := strings.Repeat(string(q), 3)
	if strings.HasPrefix(s.src[s.pos:], triple) {
		s.pos += 3
		for s.pos < len(s.src) {
			switch c := s.src[s.pos]; {
			case c == '\\' && q == '"' && s.pos+1 < len(s.src):
				s.pos++ // the escaped byte is skipped below (a newline is counted)
				if s.src[s.pos] == '\n' {
					s.line++
				}
				s.pos++
			case c == '\n':
				s.line++
				s.pos++
			case strings.HasPrefix(s.src[s.pos:], triple):
				s.pos += 3
				// Up to two more quotes belong to the content: """a""""
				for i := 0; i < 2 && s.peek() == q; i++ {
					s.pos++
				}
				return s.src[start:s.pos]
			default:
				s.pos++
			}
		}
		return s.src[start:s.pos]
	}
	s.pos++
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		c := s.src[s.pos]
		s.pos++
		if c == q {
			break
		}
		if c == '\\' && q == '"' && s.peek() != '\n' && s.pos < len(s.src) {
			s.pos++
		}
	}
	return s.src[start:s.pos]
}

// skipSpace skips blanks and comments, and newlines too when nl is set.
func (s *lineScanner) skipSpace(nl bool) {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\r':
			s.pos++
		case '\n':
			if !nl {
				return
			}
			s.line++
			s.pos++
		case '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

func (s *lineScanner) skipLine() {
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
}

func (s *lineScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// unquoteBasic is the value of a quoted key; TOML's escapes are Go's for
// the ones keys use, and a key Go cannot unquote keeps its raw text.
func unquoteBasic(raw string) string {
	if v, err := strconv.Unquote(raw); err == nil {
		return v
	}
	return strings.Trim(raw, `"`)
}

// line returns the line of key (dotted, with indices), or of its nearest
// enclosing key, or 0.
func (c *Config) line(key string) int {
	for k := key; k != ""; {
		if n, ok := c.lines[k]; ok {
			return n
		}
		dot := strings.LastIndex(k, ".")
		if dot < 0 {
			break
		}
		k = k[:dot]
	}
	return 0
}
