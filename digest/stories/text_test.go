package stories

import (
	"slices"
	"testing"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", "Bank holds interest rate", []string{"bank", "holds", "interest", "rate"}},
		{"punctuation", "Stop! Who's there? (Nobody), said... “she”.", []string{"stop", "who", "there", "nobody", "said", "she"}},
		{"hyphen splits", "AI-powered ads", []string{"ai", "powered", "ads"}},
		{"numbers keep their point", "Rates held at 4.75% after 1,000 bids", []string{"rates", "held", "at", "4.75", "after", "1000", "bids"}},
		{"entities", "Fish &amp; chips &#163;5 &eacute;t&eacute;", []string{"fish", "chips", "été"}},
		{"double escaped", "Price &amp;#163;10 rise", []string{"price", "10", "rise"}},
		{"tags", "<p>Hello <b>world</b></p><br/>again", []string{"hello", "world", "again"}},
		{"lone angle bracket stays text", "a < b and c > d", []string{"and"}},
		{"urls skipped", "Article URL: https://invezz.com/news/apple-ads Comments URL: www.example.org/x done", []string{"article", "url", "comments", "url", "done"}},
		{"unicode letters", "Zürich Straße İstanbul Ελλάδα Москва", []string{"zürich", "straße", "istanbul", "ελλάδα", "москва"}},
		{"right to left", "بي بي سي عربي", []string{"بي", "بي", "سي", "عربي"}},
		{"devanagari marks stay in word", "हिन्दी समाचार", []string{"हिन्दी", "समाचार"}},
		{"ideographs as bigrams", "東京都 news", []string{"東京", "京都", "news"}},
		{"single ideograph", "中 news", []string{"中", "news"}},
		{"full width folded", "ＡＢＣ news", []string{"abc", "news"}},
		{"one letter words dropped", "a b cd", []string{"cd"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Tokenize(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Tokenize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAnalyzerTerms(t *testing.T) {
	tests := []struct {
		name      string
		language  string
		stopWords []string
		in        string
		want      []string
	}{
		{"english stems and stop words", "english", nil, "The ministers said they were running elections", []string{"minist", "run", "elect"}},
		{"news stop words", "english", nil, "Mr Smith told reporters on Monday", []string{"smith", "report", "monday"}},
		{"extra stop words any case", "english", []string{"Monday", "Reporters"}, "Mr Smith told reporters on Monday", []string{"smith"}},
		{"small numbers dropped, years kept", "english", nil, "3 goals in 2005", []string{"goal", "2005"}},
		{"french", "french", nil, "les élections présidentielles", []string{"élect", "présidentiel"}},
		{"unknown language keeps words", "klingon", []string{"qapla"}, "Qapla batlh", []string{"batlh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAnalyzer(languages().named(tt.language), tt.stopWords)
			got := readTerms(a, tt.in, 0)
			// Labels stem word by word (term); they must read as the
			// corpus does.
			var byTerm []string
			for _, w := range Tokenize(tt.in) {
				if t := a.term(w); t != "" {
					byTerm = append(byTerm, t)
				}
			}
			if !slices.Equal(byTerm, got) {
				t.Errorf("term gives %q, the corpus %q", byTerm, got)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("terms(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAnalyzerTermsLimit(t *testing.T) {
	a := newAnalyzer(languages().named("english"), nil)
	got := readTerms(a, "alpha beta gamma delta epsilon", 3)
	if len(got) != 3 {
		t.Fatalf("got %d terms, want 3", len(got))
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"<p>a &amp; b</p>", "東京 https://x", "4.75%", "&#", "<", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, w := range Tokenize(s) {
			if w == "" {
				t.Fatalf("empty token from %q", s)
			}
		}
	})
}

// readTerms reads text as buildCorpus does, up to max content words, and
// gives its terms.
func readTerms(a *analyzer, text string, max int) []string {
	tab := newWordTable()
	r := newWordReader(tab)
	ids := r.terms(nil, 0, a, text, max)
	vocab, termOf := tab.number([]*analyzer{a}, 1)
	var out []string
	for _, id := range ids {
		if t := termOf[id]; t >= 0 {
			out = append(out, vocab.word(t))
		}
	}
	return out
}
