package stories

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/digest-newsletter/digest/digest"
)

// topicSets describes AutoTopics' output as sorted "name: urls" lines.
func topicSets(topics []digest.Topic) []string {
	var s []string
	for _, t := range topics {
		var urls []string
		for _, a := range t.Articles {
			urls = append(urls, a.URL)
		}
		sort.Strings(urls)
		s = append(s, t.Name+": "+strings.Join(urls, ","))
	}
	sort.Strings(s)
	return s
}

func TestAutoTopicsFindsTopics(t *testing.T) {
	in, label := topicCorpus(20, 3)
	topics := AutoTopics(in, Options{})
	if len(topics) != 3 {
		t.Fatalf("%d topics, want 3: %q", len(topics), topicSets(topics))
	}
	total := 0
	cluster := regexp.MustCompile(`(?i)cluster|topic \d`)
	for _, tp := range topics {
		total += len(tp.Articles)
		if !tp.Auto {
			t.Errorf("topic %q not marked Auto", tp.Name)
		}
		if cluster.MatchString(tp.Name) || strings.Count(tp.Name, " · ") != 2 {
			t.Errorf("topic name %q is not three words", tp.Name)
		}
		first := label[tp.Articles[0].URL]
		for _, a := range tp.Articles {
			if label[a.URL] != first {
				t.Errorf("topic %q mixes %s and %s", tp.Name, first, label[a.URL])
			}
		}
		// The label's words come from the topic's own vocabulary.
		for _, w := range strings.Split(tp.Name, " · ") {
			if !strings.Contains(tp.Articles[0].Title+" "+tp.Articles[0].Body.String()+" "+tp.Articles[1].Body.String(), w) &&
				!anyContains(tp.Articles, w) {
				t.Errorf("label word %q of %q is not in its articles", w, tp.Name)
			}
		}
	}
	if total != len(in) {
		t.Errorf("topics hold %d articles, want %d", total, len(in))
	}
}

func anyContains(as []digest.Article, w string) bool {
	for _, a := range as {
		if strings.Contains(a.Title+" "+a.Body.String(), w) {
			return true
		}
	}
	return false
}

func TestAutoTopicsDeterministic(t *testing.T) {
	in, _ := topicCorpus(100, 8)    // over 256 articles: the parallel paths run
	opts := Options{SampleSize: 50} // exercise the sampled path too
	want := topicSets(AutoTopics(in, opts))
	if got := topicSets(AutoTopics(in, opts)); !slices.Equal(got, want) {
		t.Fatalf("second run differs:\n%q\n%q", got, want)
	}
	for seed := range uint64(3) {
		shuffled := slices.Clone(in)
		rand.New(rand.NewPCG(seed, 11)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for _, workers := range []int{1, 2, 3} {
			o := opts
			o.Workers = workers
			if got := topicSets(AutoTopics(shuffled, o)); !slices.Equal(got, want) {
				t.Fatalf("shuffle %d with %d workers differs:\n%q\n%q", seed, workers, got, want)
			}
		}
	}
}

func TestAutoTopicsBounds(t *testing.T) {
	in, _ := topicCorpus(20, 5)
	tests := []struct {
		name     string
		opts     Options
		min, max int
	}{
		{"max below the natural number", Options{MaxTopics: 2}, 2, 2},
		{"min above the natural number", Options{MinTopics: 5, MaxTopics: 6}, 5, 6},
		{"min equals max", Options{MinTopics: 4, MaxTopics: 4}, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(AutoTopics(in, tt.opts))
			if n < tt.min || n > tt.max {
				t.Errorf("%d topics, want %d..%d", n, tt.min, tt.max)
			}
		})
	}
}

func TestAutoTopicsFewArticles(t *testing.T) {
	if got := AutoTopics(nil, Options{}); got != nil {
		t.Errorf("AutoTopics(nil) = %v", got)
	}
	in, _ := topicCorpus(2, 1) // 6 articles: too few to split
	in = in[:4]
	topics := AutoTopics(in, Options{})
	if len(topics) != 1 || len(topics[0].Articles) != 4 {
		t.Fatalf("got %q, want one topic of 4", topicSets(topics))
	}
	if topics[0].Name == "" || strings.Contains(topics[0].Name, "Cluster") {
		t.Errorf("name %q", topics[0].Name)
	}
	one := AutoTopics([]digest.Article{art("A", "https://a.example", "", "", 0)}, Options{})
	if len(one) != 1 || one[0].Name == "" {
		t.Errorf("one article without text: %+v", one)
	}
}

func TestAutoTopicsUniqueNames(t *testing.T) {
	// Two topics with the same words in different proportions would get
	// the same three-word label; names must still differ.
	var in []digest.Article
	for i := range 12 {
		body := strings.Repeat("alpha beta gamma ", 5) + strings.Repeat(fmt.Sprintf("side%d ", i%2), 6)
		in = append(in, art("S", fmt.Sprintf("https://x.example/%d", i), "alpha beta gamma", body, 0))
	}
	topics := AutoTopics(in, Options{MinTopics: 2, MaxTopics: 2})
	seen := map[string]bool{}
	for _, tp := range topics {
		if seen[tp.Name] {
			t.Errorf("duplicate topic name %q", tp.Name)
		}
		seen[tp.Name] = true
	}
}

func TestSurfaceFormsKeepCase(t *testing.T) {
	in := []digest.Article{
		art("A", "https://a/1", "ISIS attack in Iraq", "Security forces in Iraq said ISIS fighters attacked.", 0),
		art("A", "https://a/2", "Iraq security tightened", "Security was tightened across Iraq after ISIS threats.", 0),
	}
	topics := AutoTopics(in, Options{})
	if len(topics) != 1 {
		t.Fatalf("%d topics", len(topics))
	}
	got := strings.Split(topics[0].Name, " · ")
	sort.Strings(got)
	if want := []string{"ISIS", "Iraq", "security"}; !slices.Equal(got, want) {
		t.Errorf("label %q, want the words %q", topics[0].Name, want)
	}
}

func TestAutoTopicsDegenerate(t *testing.T) {
	tests := []struct {
		name string
		make func(i int) digest.Article
	}{
		{"no text", func(i int) digest.Article { return art("S", fmt.Sprintf("https://x/%d", i), "", "", 0) }},
		{"same text", func(i int) digest.Article {
			return art("S", fmt.Sprintf("https://x/%d", i), "Same headline", "Exactly the same body every time.", 0)
		}},
		{"stop words only", func(i int) digest.Article {
			return art("S", fmt.Sprintf("https://x/%d", i), "The and of", "It was what it is.", 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []digest.Article
			for i := range 30 {
				in = append(in, tt.make(i))
			}
			topics := AutoTopics(in, Options{})
			total := 0
			for _, tp := range topics {
				total += len(tp.Articles)
				if tp.Name == "" {
					t.Error("empty topic name")
				}
			}
			if total != len(in) {
				t.Errorf("topics hold %d articles, want %d", total, len(in))
			}
		})
	}
}
