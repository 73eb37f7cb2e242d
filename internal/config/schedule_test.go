package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScheduleErrorsInPlainWords: robfig/cron's own errors leak strconv
// ("strconv.Atoi: parsing \"x\": invalid syntax"); ours name the field, the
// value and the allowed range.
func TestScheduleErrorsInPlainWords(t *testing.T) {
	tests := []struct{ spec, tz, want string }{
		{"61 7 * * *", "", `minute field "61" is out of range 0-59`},
		{"x 7 * * *", "", `minute field "x": "x" is not a number in 0-59`},
		{"0 24 * * *", "", `hour field "24" is out of range 0-23`},
		{"0 7 0 * *", "", `day-of-month field "0" is out of range 1-31`},
		{"0 7 * 13 *", "", `month field "13" is out of range 1-12 (or JAN-DEC)`},
		{"0 7 * FOO *", "", `month field "FOO": "FOO" is not a number in 1-12 (or JAN-DEC)`},
		{"0 7 * * 7", "", `day-of-week field "7" is out of range 0-6 (0 is Sunday; or SUN-SAT)`},
		{"0 7 * * MON-FRI,8", "", `day-of-week field "MON-FRI,8": 8 is out of range 0-6`},
		{"0 7 * * FRI-MON", "", `range FRI-MON runs backwards`},
		{"*/0 * * * *", "", `minute field "*/0": step "0" must be a whole number above 0`},
		{"0 1-2-3 * * *", "", `"1-2-3" has too many hyphens`},
		{"0 7 * *", "", "has 4 fields, want 5: minute hour day-of-month month day-of-week"},
		{"0 0 7 * * *", "", "has 6 fields, want 5 (seconds are not supported)"},
		{"@sometimes", "", `unknown descriptor "@sometimes"`},
		{"@every soon", "", `"soon" is not a duration`},
		{"@every 5", "", `"5" is not a duration`},
		{"CRON_TZ=Mars/Base 0 7 * * *", "", `unknown time zone "Mars/Base"`},
		{"0 7 * * *", "Mars/Base", `unknown time zone "Mars/Base"`},
		{"CRON_TZ=Europe/Berlin", "", "needs a schedule after it"}, // robfig/cron panics on it
	}
	for _, tt := range tests {
		_, err := ParseSchedule(tt.spec, tt.tz)
		if err == nil {
			t.Errorf("%q accepted", tt.spec)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "strconv") {
			t.Errorf("%q: %q, want %q", tt.spec, msg, tt.want)
		}
	}
	for _, ok := range []string{"0 7 * * MON", "*/15 8-18 * * mon-fri", "0 7 1,15 * ?", "@daily", "@every 1h30m", "CRON_TZ=Europe/Berlin 0 7 * * 1"} {
		if _, err := ParseSchedule(ok, ""); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

// TestCheckFindsMissingFiles: `config check` also checks what the config
// names on this machine, and reports it with every other problem.
func TestCheckFindsMissingFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "articles"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notafolder"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.toml")
	src := minimal + `
[[sources]]
name = "gone"
path = "missing"
[[sources]]
name = "file"
path = "notafolder"
[[sources]]
name = "feed"
url = "file:///nonexistent/feed.xml"
[theme]
templates_dir = "tpl"
[dkim]
domain = "example.org"
selector = "s1"
private_key_file = "dkim.pem"
[store]
path = "nodir/d.db"
[smtp]
tls = "ssl"
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, errs := Check(path)
	if cfg == nil {
		t.Fatal("no config returned with the problems")
	}
	want := []struct {
		key  string
		line int
		msg  string
	}{
		{"sources[1].path", 12, "article folder"},
		{"sources[2].path", 15, "is not a folder"},
		{"sources[3].url", 18, "feed file"},
		{"theme.templates_dir", 20, "templates folder"},
		{"dkim.private_key_file", 24, "DKIM key"},
		{"store.path", 26, "folder of the store"},
		{"smtp.tls", 28, "none, starttls or tls"},
	}
	if len(errs) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(errs), len(want), errs)
	}
	for i, w := range want {
		if e := errs[i]; e.Key != w.key || e.Line != w.line || !strings.Contains(e.Error(), w.msg) {
			t.Errorf("problem %d: %v; want %s at line %d (%s)", i, e, w.key, w.line, w.msg)
		}
	}
	if !errors.Is(errs[0], os.ErrNotExist) {
		t.Errorf("%v does not wrap os.ErrNotExist", errs[0])
	}
	// The example config, as shipped, has no problem on a fresh clone.
	if _, errs := Check(filepath.Join("..", "..", "config.example.toml")); len(errs) > 0 {
		t.Fatalf("config.example.toml: %v", errs)
	}
}

// A bad daemon.timezone is reported once, not again for each edition that
// inherits it.
func TestBadDaemonTimezoneOnce(t *testing.T) {
	src := minimal + "\n[[editions]]\nname = \"a\"\nschedule = \"@daily\"\n[[editions]]\nname = \"b\"\nschedule = \"0 7 * * *\"\n[daemon]\ntimezone = \"Mars/Base\"\n"
	_, err := Parse("c.toml", []byte(src))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Key != "daemon.timezone" {
		t.Fatalf("got %v, want one problem at daemon.timezone", err)
	}
}
