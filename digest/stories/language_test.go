package stories

import (
	"slices"
	"strings"
	"testing"

	"github.com/abadojack/whatlanggo"
	"github.com/digest-newsletter/digest/digest"
)

// TestLanguageOfOneArticle: alone in its source, an article is placed by
// its own stop words, else by whatlanggo, else read in Options.Language
// ("xx" here).
func TestLanguageOfOneArticle(t *testing.T) {
	tests := []struct {
		name, title, text, want string
	}{
		{"english", "Ukraine war: Many more cities like Bucha says President Zelensky",
			"Volodymyr Zelensky addressed the UN Security Council for the first time since Russia invaded.", "en"},
		// "In", "der" and "will" are English, Dutch or Danish stop words
		// too: German still wins by three.
		{"german", "Augsburg: Fujitsu Deutschland macht alles dicht",
			"Fujitsu will seine gesamte Fertigung außerhalb Japans schließen. In Deutschland ist der Standort in Augsburg betroffen.", "de"},
		{"french", "La criminalité liée surtout à l'ennui ?",
			"« L'oisiveté est mère de tous les vices », dit le proverbe. Certains chercheurs américains pensent que c'est vrai pour une partie des délits.", "fr"},
		{"spanish", "El Gobierno aprueba la reforma de las pensiones",
			"El Consejo de Ministros ha aprobado este martes la reforma, que entrará en vigor el próximo año para todos los trabajadores.", "es"},
		{"russian", "Цитата #17698", "Я не знаю, что это было, но он сказал, что всё будет хорошо, и мы ему поверили.", "ru"},
		// Lucene has no Urdu list: whatlanggo's trigrams tell.
		{"urdu", "امریکی عسکری امداد کی بندش کی وجوہات: انڈیا سے جنگ، جوہری پروگرام اور اب دہشت گردوں کی پشت پناہی",
			"امریکہ اور پاکستان کے تعلقات میں اتار چڑھاؤ آتا رہا ہے اور امریکی امداد کی بندش کوئی نئی بات نہیں ہے۔", "ur"},
		{"chinese", "建国35周年纪念，华表，和平鸽", "35周年1套520，华表60一个，和平鸽20一个，一起出。", "zh"},
		// A list of words has no stop word to vote with, and trigrams
		// alone are not trusted for a language with a list.
		{"word list", "goal striker league match", "penalty referee midfielder stadium keeper season", "xx"},
		{"empty", "", "", "xx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []digest.Article{art("Wire", "https://example.org/a", tt.title, tt.text, 0)}
			if got := Languages(in, Options{Language: "xx"}); got[0] != tt.want {
				t.Errorf("Languages = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsStopWord(t *testing.T) {
	tests := []struct {
		lang, word string
		want       bool
	}{
		{"de", "die", true},
		{"german", "Der", true},
		{"de", "war", true},
		{"en", "die", false},
		{"en", "war", false},
		{"english", "The", true},
		{"ru", "на", true},
		{"fr", "les", true},
		{"klingon", "the", false},
		{"ur", "کی", false}, // no list for Urdu
	}
	for _, tt := range tests {
		if got := IsStopWord(tt.lang, tt.word); got != tt.want {
			t.Errorf("IsStopWord(%q, %q) = %v, want %v", tt.lang, tt.word, got, tt.want)
		}
	}
}

// TestLanguagesBySource: an article too short to tell takes its source's
// language; a source of bare headlines gets the configured language.
func TestLanguagesBySource(t *testing.T) {
	prose := "The council said on Monday that it would not change the plan, and that the work on the new road will start in the spring as it was agreed."
	in := []struct{ source, title, body string }{
		{"Wire", "Council keeps road plan", prose},
		{"Wire", "Bridge works start in the spring", prose},
		{"Wire", "Apple Vision Pro review", ""},
		{"Headlines", "Tesla Model Y recall", ""},
		{"Headlines", "Apple Vision Pro review", ""},
		{"Kurier", "Der Stadtrat hält an der Straße fest", "Der Stadtrat hat am Montag gesagt, dass er den Plan nicht ändern wird und die Arbeiten im Frühjahr beginnen."},
	}
	arts := make([]digest.Article, len(in))
	for i, x := range in {
		arts[i] = art(x.source, "https://example.org/"+string(rune('a'+i)), x.title, x.body, 0)
	}
	got := Languages(arts, Options{Language: "french"})
	want := []string{"en", "en", "en", "fr", "fr", "de"}
	if !slices.Equal(got, want) {
		t.Errorf("Languages = %q, want %q", got, want)
	}
}

// TestTrigramsNeedStopWords: whatlanggo is sure a list of English nouns
// is Spanish; with no Spanish stop word in it, the answer is not taken.
func TestTrigramsNeedStopWords(t *testing.T) {
	in, _ := topicCorpus(20, 3)
	var sample strings.Builder
	for _, a := range in {
		if a.SourceName == "Outlet 3" && sample.Len() < 2*voteSampleBytes {
			sample.WriteString(a.Title + "\n" + digest.CutBytes(a.Body.String(), voteSampleBytes/2) + "\n")
		}
	}
	if info := whatlanggo.Detect(sample.String()); info.Lang != whatlanggo.Spa || !info.IsReliable() {
		t.Fatalf("whatlanggo says %v (reliable %v): the sample no longer shows the trap", info.Lang, info.IsReliable())
	}
	if l := languages().trigrams(sample.String()); l != nil {
		t.Errorf("trigrams = %q, want nil for text without a stop word", l.code)
	}
	if l := languages().trigrams("El Consejo de Ministros ha aprobado este martes la reforma de las pensiones para todos los trabajadores."); l == nil || l.code != "es" {
		t.Errorf("trigrams of Spanish prose = %v, want es", l)
	}
}
