package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const exampleConfig = "../../config.example.toml"

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDryRunOnTheExample(t *testing.T) {
	t.Setenv("DIGEST_SECRET", "")
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "send", "--dry-run", "--config", exampleConfig, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Top stories", "Security", "Economy", "Riverside Post", "also in: The Marden Courier", "Dry run:", "sample recipient"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, stdout)
		}
	}
	emls, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	if len(emls) != 1 {
		t.Fatalf("%d .eml files, want one for the sample recipient", len(emls))
	}
	raw, _ := os.ReadFile(emls[0])
	for _, want := range []string{"multipart/alternative", "text/plain", "text/html", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf(".eml lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "preview.html")); err != nil {
		t.Fatal(err)
	}
	// A dry run writes no state: no store appears next to the config.
	if _, err := os.Stat("../../digest.db"); err == nil {
		t.Fatal("dry run created digest.db")
	}
}

func TestCollectJSONContract(t *testing.T) {
	code, stdout, stderr := runCLI(t, "collect", "--json", "--config", exampleConfig)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Topics []struct {
			Name     string `json:"name"`
			Articles []struct {
				Title     string `json:"title"`
				URL       string `json:"url"`
				Source    string `json:"source"`
				Author    string `json:"author"`
				Published string `json:"published"`
				Summary   string `json:"summary"`
				Also      []struct {
					Source string `json:"source"`
					URL    string `json:"url"`
				} `json:"also"`
			} `json:"articles"`
		} `json:"topics"`
		Errors []struct {
			Source string `json:"source"`
			Error  string `json:"error"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if got.Errors == nil || len(got.Topics) < 3 {
		t.Fatalf("topics %d, errors %v", len(got.Topics), got.Errors)
	}
	also := 0
	for _, tp := range got.Topics {
		for _, a := range tp.Articles {
			if a.Title == "" || a.URL == "" || a.Source == "" {
				t.Errorf("article lacks title/url/source: %+v", a)
			}
			if _, err := time.Parse(time.RFC3339, a.Published); err != nil {
				t.Errorf("published %q is not RFC 3339", a.Published)
			}
			also += len(a.Also)
		}
	}
	if also == 0 {
		t.Error("the story told by two outlets has no 'also'")
	}
}

func TestExitStatusAndErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[newsletter]\nfrom = \"a <a@example.org>\"\nbase_url = \"https://x.example\"\n[smtp]\ntls = \"ssl\"\n"), 0o644)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown flag", []string{"send", "--bogus"}, 2, "unknown flag"},
		{"extra argument", []string{"collect", "extra", "--config", exampleConfig}, 2, "unknown command"},
		{"bad config names file, line and key", []string{"config", "check", "--config", bad}, 1, "bad.toml:5: smtp.tls"},
		{"missing config", []string{"config", "check", "--config", filepath.Join(dir, "nope.toml")}, 1, "nope.toml"},
		{"bad address", []string{"subscribers", "add", "bob@@example.org", "--config", exampleConfig}, 2, "not a valid email address"},
		{"out without dry run", []string{"send", "--out", dir, "--config", exampleConfig}, 2, "--out needs --dry-run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
}

func TestSubscribersCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	src, _ := os.ReadFile(exampleConfig)
	s := strings.Replace(string(src), `path = "digest.db"`, `path = "`+filepath.Join(dir, "d.db")+`"`, 1)
	s = strings.Replace(s, `path = "examples/articles"`, `path = "`+filepath.Join("..", "..", "examples", "articles")+`"`, 1)
	os.WriteFile(cfg, []byte(s), 0o644)
	csv := filepath.Join(dir, "list.csv")
	os.WriteFile(csv, []byte("email,name,topics,edition\nann@example.org,Ann,Security;Economy,weekly\nbad-address,Bob,,\ncid@example.org,,Sports,\ndee@Example.ORG,Dee,,daily\n"), 0o644)

	code, stdout, stderr := runCLI(t, "--config", cfg, "subscribers", "import", csv)
	if code != 0 || !strings.Contains(stdout, "2 added") || !strings.Contains(stdout, "2 bad rows") {
		t.Fatalf("import: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "list.csv:3:") || !strings.Contains(stderr, "list.csv:4:") || !strings.Contains(stderr, `unknown topic "Sports"`) {
		t.Fatalf("bad rows not reported by line:\n%s", stderr)
	}
	if code, _, stderr := runCLI(t, "--config", cfg, "subscribers", "add", "eve@example.org", "--topics", "Culture"); code != 0 {
		t.Fatalf("add: %s", stderr)
	}
	if code, _, stderr := runCLI(t, "--config", cfg, "subscribers", "remove", "ann@example.org"); code != 0 {
		t.Fatalf("remove: %s", stderr)
	}
	code, stdout, _ = runCLI(t, "--config", cfg, "subscribers", "list", "--json")
	var list []struct {
		Email   string   `json:"email"`
		Name    string   `json:"name"`
		Status  string   `json:"status"`
		Topics  []string `json:"topics"`
		Edition string   `json:"edition"`
		Created string   `json:"created"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || code != 0 {
		t.Fatalf("list --json: %v\n%s", err, stdout)
	}
	if len(list) != 2 || list[0].Email != "dee@example.org" || list[0].Status != "confirmed" || list[0].Edition != "daily" || list[1].Topics[0] != "Culture" {
		t.Fatalf("list: %+v", list)
	}
	code, stdout, _ = runCLI(t, "--config", cfg, "subscribers", "export")
	if code != 0 || !strings.HasPrefix(stdout, "email,name,topics,edition,status,created\n") || !strings.Contains(stdout, "eve@example.org,,Culture,,confirmed,") {
		t.Fatalf("export:\n%s", stdout)
	}
}

// TestExportImportOnANewStore: `subscribers export` then `import` into a
// new store keeps every status; nobody comes back confirmed; add refuses
// an address that unsubscribed.
func TestExportImportOnANewStore(t *testing.T) {
	dir := t.TempDir()
	src, _ := os.ReadFile(exampleConfig)
	mk := func(name string) string {
		cfg := filepath.Join(dir, name+".toml")
		s := strings.Replace(string(src), `path = "digest.db"`, `path = "`+filepath.Join(dir, name+".db")+`"`, 1)
		s = strings.Replace(s, `path = "examples/articles"`, `path = "`+filepath.Join("..", "..", "examples", "articles")+`"`, 1)
		os.WriteFile(cfg, []byte(s), 0o644)
		return cfg
	}
	a, b := mk("a"), mk("b")
	list := filepath.Join(dir, "list.csv")
	os.WriteFile(list, []byte("email,status\nin@example.org,confirmed\nwait@example.org,pending\nout@example.org,unsubscribed\nbad@example.org,bounced\nplain@example.org,\n"), 0o644)
	if code, _, stderr := runCLI(t, "--config", a, "subscribers", "import", list); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	code, exported, stderr := runCLI(t, "--config", a, "subscribers", "export")
	if code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	dump := filepath.Join(dir, "dump.csv")
	os.WriteFile(dump, []byte(exported), 0o644)
	if code, _, stderr := runCLI(t, "--config", b, "subscribers", "import", dump); code != 0 {
		t.Fatalf("import into the new store: %s", stderr)
	}
	_, again, _ := runCLI(t, "--config", b, "subscribers", "export")
	if again != exported {
		t.Fatalf("round trip differs:\n%s\nvs\n%s", exported, again)
	}
	for _, want := range []string{"wait@example.org,,,,pending,", "out@example.org,,,,unsubscribed,", "bad@example.org,,,,bounced,", "plain@example.org,,,,confirmed,"} {
		if !strings.Contains(again, want) {
			t.Errorf("new store lacks %q:\n%s", want, again)
		}
	}
	code, _, stderr = runCLI(t, "--config", b, "subscribers", "add", "out@example.org")
	if code != 1 || !strings.Contains(stderr, "only its owner can subscribe it again") {
		t.Fatalf("add of an unsubscribed address: exit %d %s", code, stderr)
	}
}
