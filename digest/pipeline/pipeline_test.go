package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/stories"
	"github.com/digest-newsletter/digest/internal/config"
)

// TestBuildExample runs the whole pipeline on the bundled example articles
// plus two feeds served over HTTP, one of them broken.
func TestBuildExample(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/good.xml", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Coast Wire</title><link>https://coast.example/</link>
<item><title>Ferry timetable changes for winter</title><link>/ferry</link><guid>coast-1</guid><category>Transport</category><pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate><description>&lt;p&gt;The winter timetable starts in December.&lt;/p&gt;</description></item>
</channel></rss>`)
	})
	mux.HandleFunc("/broken.xml", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<rss><channel><item><title>cut off`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	examples, _ := filepath.Abs("../../examples/articles")
	src := fmt.Sprintf(`
[newsletter]
from = "Brief <brief@example.org>"
base_url = "https://news.example.org"
window = "87600h"
[[sources]]
name = "Local notes"
path = %q
[[sources]]
name = "Coast Wire"
url = "%s/good.xml"
[[sources]]
name = "Broken feed"
url = "%s/broken.xml"
[[topics]]
name = "Security"
keywords = ["militants", "patrols"]
[[topics]]
name = "Economy"
keywords = ["inflation", "port"]
`, examples, srv.URL, srv.URL)
	cfg, err := config.Parse("t.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := Build(context.Background(), cfg, Options{To: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)})

	names := []string{}
	byName := map[string]digest.Topic{}
	for _, tp := range d.Topics {
		names = append(names, tp.Name)
		byName[tp.Name] = tp
	}
	if len(names) < 3 || names[0] != "Security" || names[1] != "Economy" {
		t.Fatalf("topics %q: want rule topics first, in config order", names)
	}
	for _, tp := range d.Topics[2:] {
		if !tp.Auto && tp.Name != digest.MoreTopic {
			t.Fatalf("topic %q after the rules is neither automatic nor More", tp.Name)
		}
		if tp.Auto && (len(tp.Articles) < 3 || strings.Contains(tp.Name, "Cluster")) {
			t.Fatalf("automatic topic %q with %d articles", tp.Name, len(tp.Articles))
		}
	}
	// 7 example articles, two of them one story, plus the feed's one item:
	// every story is somewhere, once.
	if got := d.Count(); got != 7 {
		t.Fatalf("%d stories in the topics, want 7", got)
	}
	sec := byName["Security"]
	if len(sec.Articles) != 1 || len(sec.Articles[0].Also) != 1 {
		t.Fatalf("the checkpoint story told by two outlets should be one story with one 'also': %+v", sec.Articles)
	}
	if len(d.Top) == 0 || d.Top[0].Title != sec.Articles[0].Title {
		t.Fatalf("top stories %+v", d.Top)
	}
	var ferry *digest.Article
	for _, tp := range d.Topics {
		for i, a := range tp.Articles {
			if strings.HasPrefix(a.Title, "Ferry") {
				ferry = &tp.Articles[i]
			}
		}
	}
	if ferry == nil || ferry.URL != "https://coast.example/ferry" || ferry.Summary != "The winter timetable starts in December." {
		t.Fatalf("feed article: %+v", ferry)
	}
	if len(d.Errors) != 1 || d.Errors[0].Source != "Broken feed" {
		t.Fatalf("errors %+v: want the broken feed reported by name", d.Errors)
	}
	// Grouping is done: the digest keeps no article text for the send,
	// nor what only selection and rules read (the ferry item has both a
	// GUID and a category).
	for _, tp := range append(d.Topics, digest.Topic{Articles: d.Top}) {
		for _, a := range tp.Articles {
			if a.Body.Len() != 0 || a.GUID != "" || a.Categories != nil {
				t.Errorf("%q still holds its text, GUID or categories after grouping", a.Title)
			}
		}
	}
}

// TestStoriesOptions: the [stories] keys reach stories.Options, sources
// weigh what their config says, and an absent key leaves the stories
// package's own default in place.
func TestStoriesOptions(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte(`
[newsletter]
from = "Brief <brief@example.org>"
base_url = "https://news.example.org"
[[sources]]
name = "Heavy"
url = "https://heavy.example/feed.xml"
weight = 2.5
[[sources]]
name = "Plain"
url = "https://plain.example/feed.xml"
[stories]
merge_threshold = 0.7
max_topics = 6
language = "german"
stop_words = ["Brief"]
cluster_terms = 40
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	o := storiesOptions(cfg, now)
	d := o.WithDefaults()
	checks := []struct {
		name      string
		got, want any
	}{
		{"merge_threshold", o.MergeThreshold, 0.7},
		{"max_topics", o.MaxTopics, 6},
		{"language", o.Language, "german"},
		{"stop_words", strings.Join(o.StopWords, ","), "Brief"},
		{"cluster_terms", o.ClusterTerms, 40},
		{"now", o.Now, now},
		{"heavy weight", o.SourceWeights["Heavy"], 2.5},
		{"plain weight", o.SourceWeights["Plain"], 1.0},
		{"min_topics absent", o.MinTopics, 0},
		{"min_topics in effect", d.MinTopics, stories.DefaultMinTopics},
		{"label_terms in effect", d.LabelTerms, stories.DefaultLabelTerms},
		{"max_topics kept", d.MaxTopics, 6},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestGroupLetsRuleTopicsTextGo: articles a rule claims are never
// clustered, so their text goes before automatic topics are looked for,
// not at the end of the build.
func TestGroupLetsRuleTopicsTextGo(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte(`
[newsletter]
from = "Brief <brief@example.org>"
base_url = "https://news.example.org"
[[sources]]
name = "Wire"
url = "https://wire.example/feed.xml"
[[topics]]
name = "Ferries"
keywords = ["ferry"]
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	articles := []digest.Article{
		{ID: "1", Title: "Ferry timetable changes", URL: "https://wire.example/1", Source: "Wire", SourceName: "Wire", Published: now, Body: digest.NewText("The winter ferry timetable starts in December.")},
		{ID: "2", Title: "Library opens late", URL: "https://wire.example/2", Source: "Wire", SourceName: "Wire", Published: now, Body: digest.NewText("The library opens until ten on Thursdays.")},
	}
	d := &digest.Digest{}
	Group(cfg, d, articles, now)
	var ruled, other int
	for _, tp := range d.Topics {
		for _, a := range tp.Articles {
			switch {
			case tp.Name == "Ferries" && a.Body.Len() == 0:
				ruled++
			case tp.Name != "Ferries" && a.Body.Len() != 0:
				other++
			}
		}
	}
	if ruled != 1 || other != 1 {
		t.Fatalf("topics %+v: want the ruled article without its text, the other one with it", d.Topics)
	}
}
