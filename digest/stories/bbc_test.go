package stories

import (
	"encoding/csv"
	"github.com/digest-newsletter/digest/digest/stories/eval"
	"os"
	"path/filepath"
	"testing"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/testenv"
)

// bbcSet is the labelled BBC set in the shared test data. Its licence
// keeps it out of the repo, so the test reads it in place (testenv.Shared);
// go run ./bench/stories prints the exact figures.
const bbcSet = "testdata/news"

func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func TestBBCQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	bbcDir := testenv.Shared(t, bbcSet)
	path := filepath.Join(bbcDir, "bbc-news-articles.csv")
	rows := readCSV(t, path)
	label := map[string]string{}
	var in []digest.Article
	for i, r := range rows {
		label[r["id"]] = r["category"]
		a := art("BBC", "https://bbc.example/"+r["id"], r["title"], r["text"], 0)
		a.ID = r["id"]
		a.Source = []string{"A", "B", "C"}[i%3]
		in = append(in, a)
	}

	t.Run("topics", func(t *testing.T) {
		topics := AutoTopics(in, Options{})
		var truth, pred []string
		for _, tp := range topics {
			for _, a := range tp.Articles {
				truth = append(truth, label[a.ID])
				pred = append(pred, tp.Name)
			}
		}
		nmi, purity := eval.NMIPurity(truth, pred)
		t.Logf("%d topics, NMI %.3f, purity %.3f", len(topics), nmi, purity)
		if nmi < 0.6 || purity < 0.8 {
			t.Errorf("NMI %.3f (want >= 0.6), purity %.3f (want >= 0.8)", nmi, purity)
		}
	})

	t.Run("listed near duplicates merge", func(t *testing.T) {
		out := Merge(in, Options{})
		storyOf := map[string]string{}
		for _, a := range out {
			storyOf[a.URL] = a.URL
			for _, x := range a.Also {
				storyOf[x.URL] = a.URL
			}
		}
		pairs := readCSV(t, filepath.Join(bbcDir, "bbc-news-near-duplicates.csv"))
		merged := 0
		for _, p := range pairs {
			if storyOf["https://bbc.example/"+p["id_a"]] == storyOf["https://bbc.example/"+p["id_b"]] {
				merged++
			} else {
				t.Logf("not merged: %s / %s", p["id_a"], p["id_b"])
			}
		}
		t.Logf("%d/%d listed pairs merged; %d articles -> %d stories", merged, len(pairs), len(in), len(out))
		if merged < len(pairs)*9/10 {
			t.Errorf("%d/%d listed pairs merged, want >= 90%%", merged, len(pairs))
		}
		// The set has few duplicates besides the listed pairs.
		if extra := len(in) - len(out) - len(pairs); extra > len(in)/50 {
			t.Errorf("%d merges beyond the listed pairs", extra)
		}
	})
}
