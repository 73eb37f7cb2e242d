package articlefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/testenv"
)

var folderOpts = Options{SourceName: "Local notes"}

func parseTestFile(t *testing.T, name string, modTime time.Time) digest.Article {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "articles", name))
	if err != nil {
		t.Fatal(err)
	}
	o := folderOpts
	o.SummaryChars = 120
	a, err := Parse(filepath.Join("testdata", "articles", name), data, modTime, o)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return a
}

func TestParseArticleFile(t *testing.T) {
	mod := time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		file       string
		title      string
		source     string
		author     string
		published  time.Time
		url        string // "" = the file's own file:// URL
		categories []string
		summary    string   // prefix
		bodyHas    []string // substrings the body must contain
		bodyLacks  []string // substrings it must not
		image      string
	}{
		{
			file: "toml-front.md", title: "Ferry timetable changes for the winter season",
			source: "Harbour Notes", author: "Dana Holm",
			published:  time.Date(2025, 11, 2, 8, 30, 0, 0, time.UTC),
			url:        "https://valley.example/ferry-winter",
			categories: []string{"Transport", "Local"},
			summary:    "Fewer evening crossings from December",
			bodyHas:    []string{"The harbour authority has published the winter timetable.", "Evening crossings drop from four to two.", "06:10", "Passengers with season tickets"},
			bodyLacks:  []string{"**", "](", "# ", "> ", "- Evening", "Ferry timetable changes"},
		},
		{
			file: "yaml-front.md", title: "Museum reopens its textile hall",
			source: "Local notes", author: "Ola Berg, Kim Sand",
			published:  time.Date(2025, 10, 30, 0, 0, 0, 0, time.UTC),
			categories: []string{"Culture", "Museums"},
			summary:    "The restored textile hall opens to visitors on Friday, with free entry",
			bodyHas:    []string{"Curators spent two years"},
			bodyLacks:  []string{"`", "loom.jpg", "!["},
		},
		{
			file: "no-front.md", title: "Council meets on Thursday", source: "Local notes",
			published: mod, summary: "The agenda includes the budget",
			bodyLacks: []string{"Council meets on Thursday", "#"},
		},
		{
			file: "plain.txt", title: "Road works on the coast road end early", source: "Local notes",
			published: mod, summary: "The resurfacing finished a week ahead of schedule. Traffic lights",
			bodyHas: []string{"Traffic lights at the junction"},
		},
		{
			file: "page.html", title: "Bridge inspection finds no damage after storm",
			source: "Valley Ledger", author: "Per Lind",
			published:  time.Date(2025, 11, 4, 15, 45, 0, 0, time.UTC),
			url:        "https://valley.example/bridge-inspection",
			categories: []string{"Infrastructure"},
			summary:    "Engineers checked the old stone bridge",
			bodyHas:    []string{"last week’s floods.", "reopened the footpath"},
			bodyLacks:  []string{"trackPageView", "Home", "Share this article", "©", "font-family"},
			image:      "https://valley.example/img/bridge.jpg",
		},
		{
			file: "news-page.txt", title: "Lakeside rowing club wins national title after forty-year wait",
			source: "The Valley Ledger", author: "Jonas Eklund",
			published: time.Date(2025, 9, 3, 0, 0, 0, 0, time.UTC),
			summary:   "BRENNOR - The Lakeside Rowing Club won",
			bodyHas:   []string{"The club nearly closed in 2019", "European club regatta next spring."},
			bodyLacks: []string{"Image of", "Photo: Valley Ledger", "Profile picture", "Author Jonas", "NEWSLETTER", "Get the latest", "min read", "\u00a0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a := parseTestFile(t, tt.file, mod)
			if a.Title != tt.title {
				t.Errorf("Title = %q, want %q", a.Title, tt.title)
			}
			if a.Source != tt.source {
				t.Errorf("Source = %q, want %q", a.Source, tt.source)
			}
			if a.SourceName != folderOpts.SourceName {
				t.Errorf("SourceName = %q, want %q", a.SourceName, folderOpts.SourceName)
			}
			if a.Author != tt.author {
				t.Errorf("Author = %q, want %q", a.Author, tt.author)
			}
			if !a.Published.Equal(tt.published) {
				t.Errorf("Published = %v, want %v", a.Published, tt.published)
			}
			wantURL := tt.url
			if wantURL == "" {
				wantURL = FileURL(filepath.Join("testdata", "articles", tt.file))
				if !strings.HasPrefix(wantURL, "file:///") {
					t.Errorf("file URL %q is not absolute", wantURL)
				}
			}
			if a.URL != wantURL {
				t.Errorf("URL = %q, want %q", a.URL, wantURL)
			}
			if a.ID == "" {
				t.Error("empty ID")
			}
			if strings.Join(a.Categories, "|") != strings.Join(tt.categories, "|") {
				t.Errorf("Categories = %q, want %q", a.Categories, tt.categories)
			}
			if !strings.HasPrefix(a.Summary, tt.summary) {
				t.Errorf("Summary = %q, want prefix %q", a.Summary, tt.summary)
			}
			if n := utf8.RuneCountInString(a.Summary); n > 120 {
				t.Errorf("Summary has %d runes, want <= 120", n)
			}
			for _, s := range tt.bodyHas {
				if !strings.Contains(a.Body.String(), s) {
					t.Errorf("Body lacks %q:\n%s", s, a.Body.String())
				}
			}
			for _, s := range tt.bodyLacks {
				if strings.Contains(a.Body.String(), s) {
					t.Errorf("Body has %q:\n%s", s, a.Body.String())
				}
			}
			if a.ImageURL != tt.image {
				t.Errorf("ImageURL = %q, want %q", a.ImageURL, tt.image)
			}
		})
	}
}

func TestNewsPagePullQuote(t *testing.T) {
	a := parseTestFile(t, "news-page.txt", time.Now())
	const quote = "We rowed for everyone who kept this boathouse open"
	if n := strings.Count(a.Body.String(), quote); n != 1 {
		t.Fatalf("pull quote appears %d times in body, want 1:\n%s", n, a.Body.String())
	}
	// The copy kept is the one in context, after the opening paragraph.
	if strings.Index(a.Body.String(), quote) < strings.Index(a.Body.String(), "BRENNOR") {
		t.Errorf("kept the first copy of the pull quote, want the later one:\n%s", a.Body.String())
	}
	paras := strings.Split(a.Body.String(), "\n\n")
	if len(paras) != 4 {
		t.Errorf("body has %d paragraphs, want 4: %q", len(paras), paras)
	}
}

func TestNewsPageDates(t *testing.T) {
	tests := []struct {
		line string
		want time.Time
	}{
		{"Jan. 26, 2025 • 2 min read", time.Date(2025, 1, 26, 0, 0, 0, 0, time.UTC)},
		{"Sept. 3, 2025 • 4 min read", time.Date(2025, 9, 3, 0, 0, 0, 0, time.UTC)},
		{"May 5, 2025", time.Date(2025, 5, 5, 0, 0, 0, 0, time.UTC)},
		{"January 26, 2025", time.Date(2025, 1, 26, 0, 0, 0, 0, time.UTC)},
		{"Dec 31, 2024 | 1 min read", time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"26 January 2025", time.Date(2025, 1, 26, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			page := "Economy\n\nHarbour tolls to rise next year\n\nCoast Gazette\n\n" + tt.line +
				"\n\nThe harbour board voted on Monday to raise tolls.\n\nAuthor Lea Moen\n"
			a, err := Parse("x.txt", []byte(page), time.Now(), folderOpts)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Published.Equal(tt.want) {
				t.Errorf("Published = %v, want %v", a.Published, tt.want)
			}
			if a.Title != "Harbour tolls to rise next year" || a.Source != "Coast Gazette" || a.Author != "Lea Moen" {
				t.Errorf("got title %q source %q author %q", a.Title, a.Source, a.Author)
			}
			if a.Body.String() != "The harbour board voted on Monday to raise tolls." {
				t.Errorf("Body = %q", a.Body.String())
			}
		})
	}
}

// TestPlainTextNotNewsPage: a text whose third line only looks like a
// date sentence stays a plain title-and-body file.
func TestPlainTextNotNewsPage(t *testing.T) {
	tests := []struct{ name, text, title string }{
		{"sentence date", "Notes\n\nSome thoughts on the harbour.\n\nMay 5, 2025 was the day the tolls were announced by the board.\n", "Notes"},
		{"no date", "Title here\nBody one.\nBody two.\n", "Title here"},
		{"marvel", "A\n\nB\n\nMarvel 3, 2025\n", "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse("n.txt", []byte(tt.text), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), folderOpts)
			if err != nil {
				t.Fatal(err)
			}
			if a.Title != tt.title || a.Source != "Local notes" || a.Published.Year() != 2025 || a.Published.Month() != 1 {
				t.Errorf("got title %q source %q published %v", a.Title, a.Source, a.Published)
			}
		})
	}
}

// TestSeedNewsPage reads the real captured page the format was modelled
// on; it lives outside the repo.
func TestSeedNewsPage(t *testing.T) {
	seed := testenv.Shared(t, "seeds/news-article.txt")
	data, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(seed, data, time.Now(), folderOpts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Title, "Iraqi PM Sudani, US-led coalition commander discuss") {
		t.Errorf("Title = %q", a.Title)
	}
	if a.Source != "The New Region" || a.Author != "The New Region" {
		t.Errorf("Source = %q, Author = %q", a.Source, a.Author)
	}
	if want := time.Date(2025, 1, 26, 0, 0, 0, 0, time.UTC); !a.Published.Equal(want) {
		t.Errorf("Published = %v, want %v", a.Published, want)
	}
	if !strings.HasPrefix(a.Body.String(), "ERBIL, Kurdistan Region of Iraq") {
		t.Errorf("body starts %.80q, want the dateline paragraph", a.Body.String())
	}
	if n := strings.Count(a.Body.String(), "Sudani affirmed"); n != 1 {
		t.Errorf("pull quote appears %d times, want 1", n)
	}
	for _, bad := range []string{"Image of", "Profile picture", "NEWSLETTER", "Get the latest", "\u00a0", "min read"} {
		if strings.Contains(a.Body.String(), bad) {
			t.Errorf("body contains %q", bad)
		}
	}
	if !strings.HasSuffix(a.Body.String(), "cleansed” from ISIS.") {
		t.Errorf("body ends %q", a.Body.String()[max(0, len(a.Body.String())-80):])
	}
}

func TestParseArticleFileErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"empty.txt", "  \n\u00a0\n", "empty"},
		{"bad.md", "+++\ntitle = \n+++\nbody", "front matter (TOML)"},
		{"bad2.md", "---\ntitle: [unclosed\n---\nbody", "front matter (YAML)"},
		{"open.md", "+++\ntitle = \"x\"\n", "no closing +++"},
		{"x.pdf", "%PDF", "unsupported file type"},
		{"blank.html", "<html><body></body></html>", "empty article"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.name, []byte(tt.data), time.Now(), folderOpts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestMarkdownToText: the syntax tree, not patterns, decides what is
// markup; the cases here are ones the former regular expressions got
// wrong.
func TestMarkdownToText(t *testing.T) {
	tests := []struct{ md, title, text string }{
		{"# Title *here*\n\nBody text.", "Title here", "Body text."},
		{"Intro first.\n\n# Later heading\n\nMore.", "Later heading", "Intro first.\n\nLater heading\n\nMore."},
		{"Use snake_case_names and 2 * 3 * 4.", "", "Use snake_case_names and 2 * 3 * 4."},
		{"See [the page](https://en.wikipedia.org/wiki/Foo_(bar)) now.", "", "See the page now."},
		{"Ref [link][1] here.\n\n[1]: https://example.org", "", "Ref link here."},
		{"![alt text](pic.png) Caption", "", "Caption"},
		{"Title\n=====\n\n- one\n- two\n\n> quoted", "Title", "one\n\ntwo\n\nquoted"},
		{"```go\nfmt.Println(1)\n```\n\nAfter `code` &amp; <b>bold</b>.", "", "fmt.Println(1)\n\nAfter code & bold."},
		{"Visit <https://example.org/x>.", "", "Visit https://example.org/x."},
		{"***", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.md, func(t *testing.T) {
			title, text := markdownToText(tt.md, 0)
			if title != tt.title || text != tt.text {
				t.Errorf("markdownToText(%q) = %q, %q; want %q, %q", tt.md, title, text, tt.title, tt.text)
			}
		})
	}
}
