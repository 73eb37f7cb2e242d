package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExport(t *testing.T) {
	f := newFixture(t, nil)
	a := f.addIssue(t, 0, "weekly", true)
	b := f.addIssue(t, 1, "weekly", true)
	f.addIssue(t, 2, "weekly", false) // queued: not exported
	dir := filepath.Join(t.TempDir(), "site")
	n, err := f.a.Export(context.Background(), dir, "https://static.example/brief/")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("exported %d issues, want 2", n)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{fmt.Sprintf("%d.html", a.ID), fmt.Sprintf("%d.html", b.ID), "feed.atom", "feed.json", "index.html"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("files = %v, want %v", names, want)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	index := read("index.html")
	for _, link := range []string{fmt.Sprintf(`href="%d.html"`, a.ID), fmt.Sprintf(`href="%d.html"`, b.ID), `href="feed.atom"`, `href="feed.json"`} {
		if !strings.Contains(index, link) {
			t.Errorf("index.html lacks the relative link %s", link)
		}
	}
	page := read(fmt.Sprintf("%d.html", a.ID))
	for _, want := range []string{issueTitle(0, "River levels fall"), `href="index.html"`, `href="feed.atom"`,
		fmt.Sprintf(`content="https://static.example/brief/%d.html"`, a.ID)} {
		if !strings.Contains(page, want) {
			t.Errorf("issue page lacks %s", want)
		}
	}
	noPersonalData(t, "exported page", page)
	checkFeeds(t, []byte(read("feed.atom")), []byte(read("feed.json")), []string{
		fmt.Sprintf("https://static.example/brief/%d.html", b.ID), fmt.Sprintf("https://static.example/brief/%d.html", a.ID),
	})
}
