package digest

import "testing"

func TestGroup(t *testing.T) {
	rules := []Rule{
		{Name: "Security", Keywords: []string{"ISIS", "militants", "car bomb"}},
		{Name: "Economy", Keywords: []string{"oil", "budget", "interest rates"}},
		{Name: "Local", Sources: []string{"Town Hall"}},
		{Name: "Culture", Categories: []string{"Arts"}},
	}
	g := NewGrouper(rules)
	tests := []struct {
		name string
		a    Article
		want string // "" = unclaimed
	}{
		{"title keyword", Article{Title: "Militants attack outpost"}, "Security"},
		{"case-insensitive whole word", Article{Title: "isis remnants pursued"}, "Security"},
		{"no partial words", Article{Title: "Crisis talks", Body: NewText("the oilfield crisis")}, ""},
		{"phrase", Article{Title: "Central bank holds", Body: NewText("interest rates unchanged")}, "Economy"},
		{"title outweighs body", Article{Title: "Oil budget passes", Body: NewText("militants were mentioned once")}, "Economy"},
		{"body counts when title silent", Article{Title: "A long day", Body: NewText("ISIS militants and more militants")}, "Security"},
		{"source rule", Article{Title: "Oil price", SourceName: "Town Hall"}, "Local"},
		{"category rule", Article{Title: "New exhibition", Categories: []string{"arts "}}, "Culture"},
		{"unclaimed", Article{Title: "Football results"}, ""},
		{"unicode words", Article{Title: "Öl und Budget: Haushalt"}, "Economy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topics, un := g.Group([]Article{tt.a})
			got := ""
			if len(topics) == 1 {
				got = topics[0].Name
			}
			if got != tt.want || (tt.want == "" && len(un) != 1) {
				t.Fatalf("got topic %q (unclaimed %d), want %q", got, len(un), tt.want)
			}
		})
	}
	t.Run("config order and no empty topics", func(t *testing.T) {
		topics, _ := g.Group([]Article{{Title: "Budget"}, {Title: "ISIS"}, {Title: "Oil"}})
		if len(topics) != 2 || topics[0].Name != "Security" || topics[1].Name != "Economy" || len(topics[1].Articles) != 2 {
			t.Fatalf("got %+v", topics)
		}
	})
}
