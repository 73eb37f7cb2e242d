package stories

import (
	"slices"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
)

func story(title, source string, age time.Duration, also ...string) digest.Article {
	a := art(source, "https://"+source+".example/"+title, title, "", age)
	for _, s := range also {
		a.Also = append(a.Also, digest.Also{Source: s, URL: "https://" + s + ".example/" + title, Title: title})
	}
	return a
}

func titles(as []digest.Article) []string {
	var s []string
	for _, a := range as {
		s = append(s, a.Title)
	}
	return s
}

func TestSources(t *testing.T) {
	tests := []struct {
		name string
		a    digest.Article
		want int
	}{
		{"alone", story("x", "A", 0), 1},
		{"three outlets", story("x", "A", 0, "B", "C"), 3},
		{"same outlet twice counts once", story("x", "A", 0, "B", "b", "A"), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sources(tt.a); got != tt.want {
				t.Errorf("Sources = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTop(t *testing.T) {
	in := []digest.Article{
		story("solo", "A", 0),
		story("two old", "A", 30*time.Hour, "B"),
		story("two new", "A", time.Hour, "B"),
		story("four", "A", 50*time.Hour, "B", "C", "D"),
		story("three", "C", 2*time.Hour, "D", "E"),
		story("two heavy", "H", time.Hour, "B"),
	}
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"defaults: size, then recency, then weight", Options{SourceWeights: map[string]float64{"H": 2}}, []string{"four", "three", "two heavy"}},
		{"weight breaks a tie in size and time", Options{TopStories: 5, SourceWeights: map[string]float64{"A": 3}}, []string{"four", "three", "two new", "two heavy", "two old"}},
		{"min sources", Options{TopMinSources: 3, TopStories: 10}, []string{"four", "three"}},
		{"count", Options{TopStories: 1}, []string{"four"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := titles(Top(in, tt.opts))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Top = %q, want %q", got, tt.want)
			}
		})
	}
	if got := Top([]digest.Article{story("solo", "A", 0)}, Options{}); len(got) != 0 {
		t.Errorf("single-source story made the top: %q", titles(got))
	}
}

func TestRank(t *testing.T) {
	in := []digest.Article{
		story("old big", "A", 72*time.Hour, "B", "C", "D"), // 4 × 2^-3 = 0.5
		story("fresh small", "A", 0),                       // 1
		story("day old pair", "A", 24*time.Hour, "B"),      // 2 × 2^-1 = 1, older than "fresh small"
		story("heavy", "W", 24*time.Hour),                  // 3 × 2^-1 = 1.5
		story("undated", "A", 0, "B", "C", "D", "E"),
	}
	in[4].Published = time.Time{} // 5 × 2^-10
	Rank(in, Options{Now: t0, SourceWeights: map[string]float64{"W": 3}})
	want := []string{"heavy", "fresh small", "day old pair", "old big", "undated"}
	if got := titles(in); !slices.Equal(got, want) {
		t.Errorf("Rank = %q, want %q", got, want)
	}
	// Half-life decides between size and recency.
	in2 := []digest.Article{story("fresh small", "A", 0), story("old big", "A", 72*time.Hour, "B", "C", "D")}
	Rank(in2, Options{Now: t0, RecencyHalfLife: 7 * 24 * time.Hour})
	if got := titles(in2); got[0] != "old big" {
		t.Errorf("with a week's half-life Rank = %q, want old big first", got)
	}
	// Without Now, the newest article is the reference: same order.
	in3 := slices.Clone(in)
	Rank(in3, Options{SourceWeights: map[string]float64{"W": 3}})
	if got := titles(in3); !slices.Equal(got, want) {
		t.Errorf("Rank without Now = %q, want %q", got, want)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{Now: t0, SourceWeights: map[string]float64{"Heavy": 2.5, "Plain": 0}}.WithDefaults()
	checks := []struct {
		name      string
		got, want any
	}{
		{"merge threshold", o.MergeThreshold, 0.5},
		{"min topics", o.MinTopics, 2},
		{"max topics", o.MaxTopics, 12},
		{"label terms", o.LabelTerms, 3},
		{"top stories", o.TopStories, 3},
		{"top min sources", o.TopMinSources, 2},
		{"half-life", o.RecencyHalfLife, 24 * time.Hour},
		{"language", o.Language, "english"},
		{"seed", o.Seed, int64(1)},
		{"now", o.Now, t0},
		{"weight", o.weight("Heavy"), 2.5},
		{"default weight", o.weight("Plain"), 1.0},
		{"unknown source weight", o.weight("Nobody"), 1.0},
		{"lead words", o.LeadWords, DefaultLeadWords},
		{"title weight", o.TitleWeight, DefaultTitleWeight},
		{"candidate terms", o.CandidateTerms, DefaultCandidateTerms},
		{"max posting", o.MaxPosting, DefaultMaxPosting},
		{"cluster terms", o.ClusterTerms, DefaultClusterTerms},
		{"cluster body words", o.ClusterBodyWords, DefaultClusterBodyWords},
		{"min topic articles", o.MinTopicArticles, DefaultMinTopicArticles},
		{"sample size", o.SampleSize, DefaultSampleSize},
		{"iterations", o.Iterations, DefaultIterations},
		{"restarts", o.Restarts, DefaultRestarts},
		{"boilerplate share", o.BoilerplateShare, DefaultBoilerplateShare},
		{"boilerplate min docs", o.BoilerplateMinDocs, DefaultBoilerplateMinDocs},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		})
	}
	if bad := (Options{MinTopics: 8, MaxTopics: 3}).WithDefaults(); bad.MaxTopics < bad.MinTopics {
		t.Errorf("max %d below min %d", bad.MaxTopics, bad.MinTopics)
	}
}
