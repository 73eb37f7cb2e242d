package stories

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/mmcdole/gofeed"
)

// storySets describes Merge's output independent of its order: each story
// as its representative URL followed by the sorted URLs in Also.
func storySets(out []digest.Article) []string {
	var s []string
	for _, a := range out {
		var also []string
		for _, x := range a.Also {
			also = append(also, x.URL)
		}
		sort.Strings(also)
		s = append(s, a.URL+" <- "+strings.Join(also, ","))
	}
	sort.Strings(s)
	return s
}

func TestMerge(t *testing.T) {
	orig := art("Daily Bugle", "https://bugle.example/rates", "Bank of England raises interest rates to 5%", rateHikeBody, 2*time.Hour)
	reworded := art("Evening Post", "https://post.example/boe", "Interest rates lifted to five per cent by Bank", cutTo(rateHikeBody, 0.8), time.Hour)
	summaryOnly := art("Wire", "https://wire.example/1", "UK interest rates rise to 5%", "", 3*time.Hour)
	summaryOnly.Summary = cutTo(rateHikeBody, 0.3)
	fed := art("Daily Bugle", "https://bugle.example/fed", "Fed keeps US interest rates on hold", fedHoldBody, time.Hour)
	cup := art("Sports Desk", "https://sports.example/cup", "Arsenal win FA Cup on penalties", cupFinalBody, time.Hour)
	sameLink := art("Aggregator", "https://sports.example/cup", "Cup final: Arsenal edge United", "", time.Hour)

	tests := []struct {
		name     string
		in       []digest.Article
		weights  map[string]float64
		want     []string // representative URLs in output order
		wantAlso map[string][]string
	}{
		{
			name: "reworded headline and cut body merge",
			in:   []digest.Article{orig, reworded},
			want: []string{orig.URL},
			wantAlso: map[string][]string{
				orig.URL: {reworded.URL},
			},
		},
		{
			name: "summary-only report of the same story merges",
			in:   []digest.Article{summaryOnly, orig},
			want: []string{orig.URL},
			wantAlso: map[string][]string{
				orig.URL: {summaryOnly.URL},
			},
		},
		{
			name: "different stories on the same topic stay apart",
			in:   []digest.Article{orig, fed},
			want: []string{orig.URL, fed.URL},
		},
		{
			name: "unrelated stories stay apart, order kept",
			in:   []digest.Article{cup, fed, orig},
			want: []string{cup.URL, fed.URL, orig.URL},
		},
		{
			name:    "source weight picks the representative",
			in:      []digest.Article{orig, reworded},
			weights: map[string]float64{"Evening Post": 3},
			want:    []string{reworded.URL},
			wantAlso: map[string][]string{
				reworded.URL: {orig.URL},
			},
		},
		{
			name: "same URL merges whatever the text",
			in:   []digest.Article{sameLink, cup},
			want: []string{cup.URL},
		},
		{
			name: "three reports, one story",
			in:   []digest.Article{fed, reworded, summaryOnly, orig, cup},
			want: []string{fed.URL, orig.URL, cup.URL},
			wantAlso: map[string][]string{
				orig.URL: {reworded.URL, summaryOnly.URL},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Merge(tt.in, Options{SourceWeights: tt.weights})
			var got []string
			for _, a := range out {
				got = append(got, a.URL)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("representatives = %q, want %q", got, tt.want)
			}
			for _, a := range out {
				var also []string
				for _, x := range a.Also {
					also = append(also, x.URL)
					if x.Title == "" || x.Source == "" {
						t.Errorf("Also entry %+v lacks title or source", x)
					}
				}
				if want := tt.wantAlso[a.URL]; !slices.Equal(also, want) {
					t.Errorf("%s: Also = %q, want %q", a.URL, also, want)
				}
			}
		})
	}
}

func TestMergeThresholdIsUsed(t *testing.T) {
	orig := art("A", "https://a.example/1", "Bank of England raises interest rates to 5%", rateHikeBody, 0)
	other := art("B", "https://b.example/1", "Interest rates lifted to five per cent by Bank", cutTo(rateHikeBody, 0.8), 0)
	if n := len(Merge([]digest.Article{orig, other}, Options{MergeThreshold: 0.999})); n != 2 {
		t.Errorf("threshold 0.999: %d stories, want 2", n)
	}
	if n := len(Merge([]digest.Article{orig, other}, Options{})); n != 1 {
		t.Errorf("default threshold: %d stories, want 1", n)
	}
}

func TestMergeDeterministic(t *testing.T) {
	in, _ := topicCorpus(90, 1) // over 256 articles: the parallel paths run
	// Add near duplicates so there is something to merge.
	for i := 0; i < len(in); i += 7 {
		d := in[i]
		d.URL += "?copy"
		d.ID = d.URL
		d.Source, d.SourceName = "Copycat", "Copycat"
		d.Body = digest.NewText(cutTo(d.Body.String(), 0.8))
		in = append(in, d)
	}
	want := storySets(Merge(in, Options{}))
	if len(want) == len(in) {
		t.Fatal("nothing merged: the test would prove nothing")
	}
	for seed := range uint64(3) {
		shuffled := slices.Clone(in)
		rand.New(rand.NewPCG(seed, 5)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for _, workers := range []int{1, 2, 3} {
			if got := storySets(Merge(shuffled, Options{Workers: workers})); !slices.Equal(got, want) {
				t.Fatalf("shuffle %d, %d workers: stories differ", seed, workers)
			}
		}
	}
}

func TestMergeSmallInputs(t *testing.T) {
	if got := Merge(nil, Options{}); len(got) != 0 {
		t.Errorf("Merge(nil) = %v", got)
	}
	one := []digest.Article{art("A", "https://a.example", "Only", "", 0)}
	if got := Merge(one, Options{}); len(got) != 1 || got[0].URL != one[0].URL {
		t.Errorf("Merge(one) = %v", got)
	}
	empty := []digest.Article{art("A", "https://a.example/1", "", "", 0), art("B", "https://b.example/2", "", "", 0)}
	if got := Merge(empty, Options{}); len(got) != 2 {
		t.Errorf("articles without text merged: %v", got)
	}
}

// TestMergeHackerNews reads a real Hacker News capture where three sites
// report the same Apple story under different headlines and the items
// carry only a title and a boilerplate description.
func TestMergeHackerNews(t *testing.T) {
	f, err := os.Open("testdata/rss2-hackernews-newest-near-duplicates.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	feed, err := gofeed.NewParser().Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var in []digest.Article
	for _, it := range feed.Items {
		host := it.Link
		if u, err := url.Parse(it.Link); err == nil {
			host = u.Host
		}
		a := digest.Article{ID: it.GUID, URL: it.Link, Title: it.Title, Summary: it.Description, Source: host, SourceName: "Hacker News"}
		if it.PublishedParsed != nil {
			a.Published = *it.PublishedParsed
		}
		in = append(in, a)
	}
	if len(in) != 20 {
		t.Fatalf("parsed %d items, want 20", len(in))
	}
	out := Merge(in, Options{})
	var apple []digest.Article
	for _, a := range out {
		if len(a.Also) > 0 {
			apple = append(apple, a)
		}
	}
	if len(out) != 18 || len(apple) != 1 {
		for _, a := range out {
			t.Logf("%q also %v", a.Title, a.Also)
		}
		t.Fatalf("%d stories, %d merged; want 18 stories with one merged", len(out), len(apple))
	}
	titles := []string{apple[0].Title}
	for _, x := range apple[0].Also {
		titles = append(titles, x.Title)
	}
	for _, ti := range titles {
		if !strings.Contains(ti, "Apple") {
			t.Errorf("merged %q into the Apple story", ti)
		}
	}
	if Sources(apple[0]) != 3 {
		t.Errorf("Apple story has %d sources, want 3", Sources(apple[0]))
	}
}

// A source that ends every summary with the same furniture must not have
// its articles merged, or grouped, by it.
func TestBoilerplateIgnored(t *testing.T) {
	const furniture = " Continue reading this story on our website: subscribe today for unlimited digital access, puzzles, podcasts, exclusive newsletters and members-only events across the country."
	sport := []string{
		"The striker scored twice as United won the derby at the stadium.",
		"The goalkeeper saved a penalty as City held on in the league match.",
		"The midfielder was sent off as Rovers lost the cup tie at home.",
		"The coach praised the striker after a goalless league match at the stadium.",
		"The winger signed a new contract after scoring in the cup final.",
		"The captain scored a late goal as the team won the league title.",
	}
	weather := []string{
		"Floods closed the coastal railway after storms battered the west.",
		"Heavy snow closed schools as temperatures fell below freezing overnight.",
		"A heatwave warning was issued as temperatures rose across the south.",
		"Gales brought down trees and power lines as the storm moved east.",
		"Drought forced a hosepipe ban as reservoirs fell to record lows.",
		"Fog delayed flights as forecasters warned of freezing temperatures.",
	}
	var in []digest.Article
	add := func(texts []string, subject string) {
		for i, l := range texts {
			source := []string{"Paper", "Other"}[i%2]
			a := art(source, fmt.Sprintf("https://%s.example/%s/%d", source, subject, i), strings.Join(strings.Fields(l)[1:3], " "), "", 0)
			a.Summary = l + " " + subject + " news."
			if source == "Paper" {
				a.Summary += furniture
			}
			in = append(in, a)
		}
	}
	add(sport, "sport")
	add(weather, "weather")
	if out := Merge(in, Options{}); len(out) != len(in) {
		t.Errorf("%d stories from %d different articles: merged on boilerplate", len(out), len(in))
	}
	topics := AutoTopics(in, Options{MaxTopics: 2})
	for _, tp := range topics {
		subject := strings.Split(tp.Articles[0].URL, "/")[3]
		for _, a := range tp.Articles {
			if !strings.Contains(a.URL, "/"+subject+"/") {
				t.Errorf("topic %q mixes subjects: %s in %v", tp.Name, a.URL, topicSets(topics))
				break
			}
		}
		for _, w := range []string{"Continue", "continue", "reading", "subscribe", "website", "podcasts"} {
			if strings.Contains(tp.Name, w) {
				t.Errorf("topic %q named after boilerplate", tp.Name)
			}
		}
	}
}

func TestRepresentativePrefersWebLink(t *testing.T) {
	body := "Police and army units began joint patrols on the roads around the city on Friday after militants attacked a border checkpoint east of the city and wounded two guards."
	arts := []digest.Article{
		{ID: "file", Title: "Joint patrols stepped up after militants attack checkpoint", URL: "file:///articles/patrols.txt", Source: "Courier", SourceName: "notes", Body: digest.NewText(body + " The attackers fled towards the hills, where security forces say a small cell hides.")},
		{ID: "web", Title: "Army and police patrol roads after checkpoint attack", URL: "https://daily.example/patrols", Source: "Daily", SourceName: "notes", Summary: body},
	}
	got := Merge(arts, Options{})
	if len(got) != 1 {
		t.Fatalf("not merged: %d stories", len(got))
	}
	if got[0].ID != "web" || len(got[0].Also) != 1 || got[0].Also[0].Source != "Courier" {
		t.Fatalf("representative %q (also %+v): want the one with a web link", got[0].ID, got[0].Also)
	}
}
