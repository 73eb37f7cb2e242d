package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// tricky is valid TOML where a line-based reading goes wrong: table
// headers, keys, '#', '=' and brackets inside strings and comments.
const tricky = `title = "a = b # not a comment" # [not] a table
[newsletter]
description = """
[smtp]
host = "inside a string"
\"""
still = "inside"
"""
footer = '''
[[editions]]
name = 'inside a literal'
'''
quote = """ends with quotes"""""
esc = "\"[x]\" = 1"
win = 'C:\path\[y]'
[smtp]
host = "smtp.example.org"
"quoted key" = 1
dotted . key = 2
list = [
  "a", # ] a comment with a bracket
  "b]",
  [1, 2],
]
inline = { a = 1, b = { c = "}" } }
[[editions]]
name = "daily"
[editions.extra]
x = 1
[[editions]]
name = "weekly"
schedule = "@weekly"
[[sources]]
name = "a"
[[sources]]
name = "b"
timeout = "5s"
feeds = [{ url = "u1" }, { url = "u2", tags = ["t"] }]
`

func TestKeyLinesTricky(t *testing.T) {
	if _, err := toml.Decode(tricky, new(map[string]any)); err != nil {
		t.Fatalf("the fixture is not TOML: %v", err)
	}
	lines := keyLines(tricky)
	for key, want := range map[string]int{
		"title":                    1,
		"newsletter":               2,
		"newsletter.description":   3,
		"newsletter.footer":        9,
		"newsletter.quote":         13,
		"newsletter.esc":           14,
		"newsletter.win":           15,
		"smtp":                     16,
		"smtp.host":                17,
		`smtp."quoted key"`:        18,
		"smtp.dotted.key":          19,
		"smtp.list":                20,
		"smtp.list.1":              22,
		"smtp.list.2":              23,
		"smtp.inline":              25,
		"smtp.inline.b.c":          25,
		"editions":                 26,
		"editions.0":               26,
		"editions.0.name":          27,
		"editions.0.extra":         28,
		"editions.0.extra.x":       29,
		"editions.1":               30,
		"editions.1.name":          31,
		"editions.1.schedule":      32,
		"editions.name":            27, // without index: the first one
		"editions.schedule":        32,
		"sources.1.timeout":        37,
		"sources.1.feeds.1.url":    38,
		"sources.1.feeds.1.tags.0": 38,
		"sources.feeds.url":        38,
	} {
		if got := lines[key]; got != want {
			t.Errorf("%s: line %d, want %d", key, got, want)
		}
	}
	for _, ghost := range []string{"newsletter.host", "newsletter.still", "newsletter.name", "smtp.still", "editions.2"} {
		if n, ok := lines[ghost]; ok {
			t.Errorf("%s (text inside a string) recorded at line %d", ghost, n)
		}
	}
}

// A table header inside a multi-line string used to shift every later key
// to the wrong table; the error must point at the real line.
func TestErrorLineAfterMultilineString(t *testing.T) {
	src := minimal + `
[theme]
footer_text = """
[smtp]
tls = "none"
"""
[smtp]
tls = "ssl"
`
	_, err := Parse("c.toml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "c.toml:16: smtp.tls:") {
		t.Fatalf("got %v, want the error at line 16", err)
	}
}

// TestKeyLinesFindsEveryParserKey checks the scanner against the parser:
// every key BurntSushi/toml reports has a line.
func TestKeyLinesFindsEveryParserKey(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"tricky": tricky, "example": string(example), "minimal": minimal} {
		checkAgainstParser(t, name, src)
	}
}

func checkAgainstParser(t *testing.T, name, src string) {
	t.Helper()
	md, err := toml.Decode(src, new(map[string]any))
	if err != nil {
		return // not TOML: nothing to compare
	}
	lines := keyLines(src)
	n := strings.Count(src, "\n") + 1
	for _, k := range md.Keys() {
		line, ok := lines[k.String()]
		if !ok {
			t.Errorf("%s: parser key %s has no line", name, k)
		}
		if line < 1 || line > n {
			t.Errorf("%s: key %s at line %d of %d", name, k, line, n)
		}
	}
}

func FuzzKeyLines(f *testing.F) {
	f.Add(tricky)
	f.Add(minimal)
	f.Add("a = \"\"\"\n\\\n\"\"\"\nb = 1")
	f.Add("[a]\nb = [\n{c = 1},\n]\n[[a.d]]\ne = '''x'''")
	f.Add("'k' . \"l\" = 1\n[\"x.y\"]\nz = 2")
	f.Fuzz(func(t *testing.T, src string) {
		checkAgainstParser(t, "fuzz", src) // and no panic on anything
	})
}
