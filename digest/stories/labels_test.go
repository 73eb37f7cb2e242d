package stories

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
)

// labelWords splits "Premier League · Arsenal" into its words.
func labelWords(name string) []string {
	return strings.Fields(strings.ReplaceAll(name, " · ", " "))
}

// TestLabelsRealFeeds groups real feeds in six languages as the pipeline
// does when no rule claims them, and reads every label: no stop word of a
// language the articles are in, no number, no single letter, none of the
// words that named topics before articles were read in their language
// ("die · von · und", "Цитата · на · не"), and every word as written in
// the topic's own articles.
func TestLabelsRealFeeds(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var arts []digest.Article
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := feedparse.Parse(data, "file://"+f, feedparse.Options{Now: now})
		for i := range got {
			got[i].Source, got[i].SourceName = filepath.Base(f), filepath.Base(f)
		}
		arts = append(arts, got...)
	}
	if len(arts) < 300 {
		t.Fatalf("%d articles from %d feeds: the fixtures did not parse", len(arts), len(files))
	}
	merged := Merge(arts, Options{})
	topics := AutoTopics(merged, Options{})
	if len(topics) < 3 {
		t.Fatalf("%d topics", len(topics))
	}
	seen := map[string]bool{}
	perArticle := map[string]string{}
	for i, l := range Languages(merged, Options{}) {
		seen[l] = true
		perArticle[merged[i].ID] = l
	}
	var langs []string
	for l := range seen {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	for _, want := range []string{"de", "en", "fr", "ru", "ur", "zh"} {
		if !seen[want] {
			t.Errorf("no article read as %q; languages %q", want, langs)
		}
	}
	before := map[string]bool{"die": true, "der": true, "von": true, "und": true, "на": true, "не": true, "для": true, "ہے": true, "میں": true}
	german := false
	for _, tp := range topics {
		t.Logf("%-45q %d articles", tp.Name, len(tp.Articles))
		var text strings.Builder
		de := 0
		for _, a := range tp.Articles {
			text.WriteString(a.Title + "\n" + lead(&a, a.Body.Len()+len(a.Summary)) + "\n")
			if perArticle[a.ID] == "de" {
				de++
			}
		}
		german = german || 2*de > len(tp.Articles)
		for _, p := range LabelProblems(tp.Name, langs) {
			t.Errorf("label %q: %s", tp.Name, p)
		}
		for _, w := range labelWords(tp.Name) {
			if before[strings.ToLower(w)] {
				t.Errorf("label %q holds %q", tp.Name, w)
			}
			if !strings.Contains(text.String(), w) {
				t.Errorf("label %q: %q is not written so in its articles", tp.Name, w)
			}
		}
	}
	if !german {
		t.Error("no topic of mostly German articles: the German feeds were not grouped")
	}
}

// newsTopics makes n articles on each of three subjects, written the way
// news is: names capitalised, phrases that recur, headlines in title case.
func newsTopics(n int) []digest.Article {
	subjects := []struct {
		name            string
		titles, ledes   []string
		fill            []string
		sourcePrefix    string
		minutesBetween  int
		wantInLabel     []string
		wantNotInLabels []string
	}{
		{
			name: "football",
			titles: []string{"Arsenal Beat Chelsea To Go Top Of The Premier League", "Premier League: Arsenal Held By Spurs",
				"Arsenal Close In On Premier League Title", "Injury Blow For Arsenal Before Premier League Run-In"},
			ledes: []string{"Arsenal moved three points clear at the top of the Premier League on Saturday after a late goal.",
				"The Premier League leaders Arsenal were held to a draw, and the manager said the title race was open.",
				"Arsenal have won eight of their last nine Premier League matches, the best run of any club this season."},
			fill: []string{"The striker scored twice before half-time.", "Supporters sang long after the final whistle.",
				"The defender was booked for a late tackle.", "The keeper made a fine save in the second half."},
		},
		{
			name: "rates",
			titles: []string{"Bank Raises Interest Rates Again", "Interest Rates: What The Rise Means For Mortgages",
				"Lenders Pass On Higher Interest Rates", "Savers Welcome Rise In Interest Rates"},
			ledes: []string{"The central bank raised interest rates by a quarter point on Thursday, the ninth rise in a row.",
				"Higher interest rates will add to the monthly cost of a typical tracker mortgage, lenders said.",
				"Economists expect interest rates to stay high until inflation falls back towards its target."},
			fill: []string{"Borrowers face higher monthly payments.", "The pound rose against the dollar after the decision.",
				"Housebuilders' shares fell on the news.", "Inflation has run above target for two years."},
		},
		{
			name: "space",
			titles: []string{"Nasa Delays Artemis Launch", "Artemis Rocket Rolls Back To Hangar",
				"Astronauts Named For Artemis Mission", "Artemis Launch Window Opens Next Month"},
			ledes: []string{"Nasa has delayed the launch of its Artemis rocket after engineers found a fuel leak on the pad.",
				"The Artemis mission will carry four astronauts around the Moon and back, Nasa said.",
				"Engineers at Nasa are testing the heat shield of the Artemis capsule before the next launch attempt."},
			fill: []string{"The crew trained for months in Houston.", "The capsule splashed down in the Pacific.",
				"Weather at the launch site was favourable.", "The rocket's engines were tested again last week."},
		},
	}
	var out []digest.Article
	for s, sub := range subjects {
		for i := range n {
			body := sub.ledes[i%len(sub.ledes)] + " " + sub.fill[i%len(sub.fill)] + " " + sub.fill[(i+1)%len(sub.fill)]
			title := sub.titles[i%len(sub.titles)]
			if i >= len(sub.titles) {
				title = fmt.Sprintf("%s (%d)", title, i)
			}
			out = append(out, art(fmt.Sprintf("Outlet %d", (i+s)%4), fmt.Sprintf("https://example.org/%s/%d", sub.name, i),
				title, body, time.Duration(i)*time.Hour))
		}
	}
	return out
}

// TestLabelsPhrasesAndCase: a word mostly written in one phrase is shown
// as it ("Premier League"), names keep their capitals ("Arsenal",
// "Artemis"), a common phrase keeps its lower case even under title-case
// headlines ("interest rates"), and no label is a number.
func TestLabelsPhrasesAndCase(t *testing.T) {
	topics := AutoTopics(newsTopics(12), Options{})
	var names []string
	for _, tp := range topics {
		names = append(names, tp.Name)
	}
	if len(topics) != 3 {
		t.Fatalf("topics %q, want 3", names)
	}
	want := map[string][]string{"football": {"Premier League", "Arsenal"}, "rates": {"interest rates"}, "space": {"Artemis"}}
	for _, tp := range topics {
		subject := strings.Split(strings.TrimPrefix(tp.Articles[0].URL, "https://example.org/"), "/")[0]
		items := strings.Split(tp.Name, " · ")
		for _, w := range want[subject] {
			if !slices.Contains(items, w) {
				t.Errorf("%s topic named %q, want %q among %q", subject, tp.Name, w, items)
			}
		}
		for _, p := range LabelProblems(tp.Name, []string{"en"}) {
			t.Errorf("label %q: %s", tp.Name, p)
		}
	}
}

// TestLabelsNoStopWordsOfOtherLanguages: in a batch of English and German
// articles, no label holds a stop word of either ("die", "war").
func TestLabelsNoStopWordsOfOtherLanguages(t *testing.T) {
	in := newsTopics(9)
	de := []string{
		"Die Regierung will die Steuer auf Strom senken, sagte der Minister am Montag in Berlin.",
		"Der Strompreis ist in diesem Jahr so hoch wie nie, und die Verbraucher sind unzufrieden.",
		"Von der Senkung der Steuer sollen vor allem die Haushalte profitieren, die viel Strom brauchen.",
	}
	for i := range 9 {
		in = append(in, art("Kurier", fmt.Sprintf("https://example.de/strom/%d", i), "Die Regierung und der Strompreis: "+[]string{"Steuer", "Senkung", "Haushalte"}[i%3],
			de[i%3]+" "+de[(i+1)%3], time.Duration(i)*time.Hour))
	}
	topics := AutoTopics(in, Options{})
	for _, tp := range topics {
		for _, p := range LabelProblems(tp.Name, []string{"en", "de"}) {
			t.Errorf("label %q: %s", tp.Name, p)
		}
	}
}

func TestLabelProblems(t *testing.T) {
	got := LabelProblems("die · Premier League · 2022 · x · war", []string{"en", "german"})
	want := []string{`"die" is a stop word of german`, `"2022" is a number`, `"x" is a single letter`, `"war" is a stop word of german`}
	if !slices.Equal(got, want) {
		t.Errorf("LabelProblems = %q, want %q", got, want)
	}
	if got := LabelProblems("Premier League · Arsenal", []string{"en", "de"}); got != nil {
		t.Errorf("LabelProblems of a good label = %q", got)
	}
}

func TestLabelHelpers(t *testing.T) {
	l := &labeler{stop: map[string]bool{"die": true, "the": true}}
	for w, want := range map[string]bool{"Arsenal": true, "DIE": false, "The": false, "2022": false, "4.75": false, "x": false, "N97": true, "東京": true} {
		if got := l.labelWord(w); got != want {
			t.Errorf("labelWord(%q) = %v, want %v", w, got, want)
		}
	}
	shown := map[string]bool{"russian": true, "app": true}
	for w, want := range map[string]bool{"russia": true, "apple": false, "ukraine": false} {
		if got := l.repeats(w, shown); got != want {
			t.Errorf("repeats(%q) = %v, want %v", w, got, want)
		}
	}
	var f forms
	for _, w := range []string{"Interest", "Interest", "Interest", "interest"} {
		f.add(w, false)
	}
	if got := f.best(); got != "interest" {
		t.Errorf("best = %q, want the lower case a quarter of the uses have", got)
	}
	var g forms
	for _, w := range []string{"Arsenal", "Arsenal", "Arsenal", "Arsenal", "Arsenal", "arsenal"} {
		g.add(w, false)
	}
	if got := g.best(); got != "Arsenal" {
		t.Errorf("best = %q, want the capital", got)
	}
}
