package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// durationKeys lists every time.Duration key of Config as [section, key,
// isArrayOfTables], found by reflection so that a new key is covered.
func durationKeys() [][3]string {
	var out [][3]string
	ct := reflect.TypeFor[Config]()
	for name, f := range tomlFields(ct) {
		ft := f.Type
		array := ""
		if ft.Kind() == reflect.Slice {
			ft, array = ft.Elem(), "array"
		}
		if ft.Kind() != reflect.Struct {
			continue
		}
		for key, kf := range tomlFields(ft) {
			if kf.Type == durationType && kf.Tag.Get("zero") != "off" {
				out = append(out, [3]string{name, key, array})
			}
		}
	}
	return out
}

// TestEveryDurationNeedsAUnit: `[smtp] timeout = 30` was read as 30ns, so
// every dial timed out. Each duration key, written without a unit, is now
// an error naming the key and its line.
func TestEveryDurationNeedsAUnit(t *testing.T) {
	keys := durationKeys()
	if len(keys) < 15 {
		t.Fatalf("found %d duration keys by reflection, expected more than 15", len(keys))
	}
	for _, k := range keys {
		section, key, array := k[0], k[1], k[2]
		header, display := "["+section+"]", section+"."+key
		if array != "" {
			header, display = "[["+section+"]]", section+"[1]."+key // minimal has one source already
			if section != "sources" {
				display = section + "[0]." + key
			}
		}
		for value, want := range map[string]string{
			`30`:      `30 has no unit: write a string with one, such as "30s"`,
			`"30"`:    `"30" has no unit: write "30s" or "30m"`,
			`1.5`:     `1.5 has no unit`,
			`"0"`:     `must be more than 0`,
			`"0s"`:    `must be more than 0`,
			`"-5m"`:   `must not be negative`,
			`"soon"`:  `"soon" is not a duration`,
			`true`:    `must be a duration in quotes`,
			`"2000h"`: ``,
		} {
			src := minimal + "\n" + header + "\n" + key + " = " + value + "\n"
			line := strings.Count(minimal, "\n") + 3
			if section == "newsletter" { // minimal has this table already
				src = strings.Replace(minimal, "[newsletter]\n", "[newsletter]\n"+key+" = "+value+"\n", 1)
				line = 3
			}
			_, err := Parse("c.toml", []byte(src))
			var es Errors
			errors.As(err, &es)
			found := false
			for _, e := range es {
				if e.Key == display {
					found = true
					if want == "" || e.Line != line || !strings.Contains(e.Error(), want) {
						t.Errorf("%s = %s: %v; want line %d and %q", display, value, e, line, want)
					}
				}
			}
			if !found && want != "" {
				t.Errorf("%s = %s: no error at the key (got %v)", display, value, err)
			}
		}
	}
}

// TestEveryProblemAtOnce: a syntax-valid file with problems of every kind
// reports all of them, in file order, each at its own line.
func TestEveryProblemAtOnce(t *testing.T) {
	src := `[newsletter]
from = "Brief <brief@example.org>"
base_url = "ftp://x"
window = 168
[[editions]]
name = "daily"
schedule = "61 7 * * *"
[[sources]]
name = "notes"
path = "articles"
weight = "heavy"
[smtp]
tls = "ssl"
timeout = 30
porrt = 25
`
	_, err := Parse("c.toml", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %T %v, want Errors", err, err)
	}
	want := []string{
		"c.toml:3: newsletter.base_url: must be an absolute http(s) URL",
		"c.toml:4: newsletter.window: 168 has no unit",
		`c.toml:7: editions[0].schedule: minute field "61" is out of range 0-59`,
		`c.toml:11: sources[0].weight: must be a number, not a string ("heavy")`,
		`c.toml:13: smtp.tls: must be none, starttls or tls`,
		`c.toml:14: smtp.timeout: 30 has no unit`,
		`c.toml:15: smtp.porrt: unknown key (did you mean "port"?)`,
	}
	if len(es) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(es[i].Error(), w) {
			t.Errorf("problem %d = %q, want %q", i, es[i], w)
		}
	}
}

// A key refused for its type is not reported a second time by the
// validation that then sees it missing.
func TestNoFollowUpProblems(t *testing.T) {
	src := strings.Replace(minimal, `from = "Brief <brief@example.org>"`, `from = 5`, 1) + "\n[dkim]\ndomain = 7\n"
	_, err := Parse("c.toml", []byte(src))
	var es Errors
	errors.As(err, &es)
	if len(es) != 2 || es[0].Key != "newsletter.from" || es[1].Key != "dkim.domain" {
		t.Fatalf("got %v, want one problem at newsletter.from and one at dkim.domain", err)
	}
}

// The tree is re-encoded before decoding (shape.go); on a valid file that
// must give exactly what decoding the file directly gives.
func TestDecodeEqualsDirectDecode(t *testing.T) {
	path := filepath.Join("..", "..", "config.example.toml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Path: path}
	if _, err := toml.Decode(string(data), want); err != nil {
		t.Fatal(err)
	}
	want.applyDefaults()
	want.lines = got.lines
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded config differs from a direct decode:\n got %+v\nwant %+v", got, want)
	}
}

func TestErrorsUnwrap(t *testing.T) {
	_, err := Parse("c.toml", []byte(strings.Replace(minimal, "brief@example.org", "nobody", 1)))
	var e *Error
	if !errors.As(err, &e) || e.Key != "newsletter.from" || errors.Unwrap(e) == nil {
		t.Fatalf("errors.As found %v in %v; want the *Error at newsletter.from wrapping the address error", e, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope.toml")); !errors.Is(err, os.ErrNotExist) || !errors.As(err, &e) {
		t.Fatalf("missing file: %v is not an *Error wrapping ErrNotExist", err)
	}
	if got := e.Error(); !strings.HasPrefix(got, "config: ") || !strings.Contains(got, "nope.toml: ") {
		t.Errorf("missing file reads %q", got)
	}
}

// A duration field tagged zero:"off" takes "0" (off); the others refuse it.
func TestZeroOffTag(t *testing.T) {
	type section struct {
		Off time.Duration `toml:"off" zero:"off"`
		On  time.Duration `toml:"on"`
	}
	var errs Errors
	tree := map[string]any{"off": "0s", "on": "0s"}
	shapeChecker{bad: (&Config{}).collector(&errs)}.table(tree, reflect.TypeFor[section](), "s")
	if len(errs) != 1 || errs[0].Key != "s.on" {
		t.Fatalf("got %v, want one problem, at s.on", errs)
	}
	if _, kept := tree["off"]; !kept {
		t.Fatal(`"off" = "0s" was pruned`)
	}
}
