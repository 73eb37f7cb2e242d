// Package articlefile parses article files, one format per file of this
// package: Markdown with TOML or YAML front matter (markdown.go), plain
// text and news pages saved as text (txt.go), and saved HTML pages
// (htmlpage.go). Adding a format is adding a file and a line to formats.
package articlefile

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
	"github.com/digest-newsletter/digest/digest/collect/htmltext"
)

// format is one kind of article file.
type format struct {
	exts  []string
	parse func(data []byte, textBytes int) (digest.Article, error)
}

var formats = []format{
	{exts: []string{".md", ".markdown"}, parse: parseMarkdown},
	{exts: []string{".txt"}, parse: func(data []byte, _ int) (digest.Article, error) { return parseText(data) }},
	{exts: []string{".html", ".htm"}, parse: parseHTMLPage},
}

func formatFor(name string) (format, bool) {
	ext := strings.ToLower(filepath.Ext(name))
	for _, f := range formats {
		for _, e := range f.exts {
			if e == ext {
				return f, true
			}
		}
	}
	return format{}, false
}

// Supported reports whether name has the extension of an article file;
// anything else in a folder (images, notes, editor backups) is ignored.
func Supported(name string) bool {
	_, ok := formatFor(name)
	return ok
}

// Options says how to read one file. The zero value works.
type Options struct {
	// SourceName is the [[sources]] name: the article's SourceName, and
	// its Source unless the file names its publication.
	SourceName string
	// SummaryChars cuts the summary (runes); 0: feedparse's default.
	SummaryChars int
	// TextBytes caps the text kept; 0: feedparse's default.
	TextBytes int
	// Now dates a file that has neither a date nor a modification time.
	Now time.Time
}

// Parse parses one article file; name's extension picks the format and
// name gives the file:// URL used when the file names none. modTime is the
// date when the file has none.
func Parse(name string, data []byte, modTime time.Time, o Options) (digest.Article, error) {
	f, ok := formatFor(name)
	if !ok {
		return digest.Article{}, fmt.Errorf("unsupported file type %q", filepath.Ext(name))
	}
	if o.SummaryChars <= 0 {
		o.SummaryChars = feedparse.DefaultSummaryChars
	}
	if o.TextBytes <= 0 {
		o.TextBytes = feedparse.DefaultTextBytes
	}
	data = []byte(strings.ToValidUTF8(strings.TrimPrefix(string(data), "\uFEFF"), "\uFFFD"))
	a, err := f.parse(data, o.TextBytes)
	if err != nil {
		return digest.Article{}, err
	}
	if a.Title == "" && a.Body.Blank() {
		return digest.Article{}, errors.New("empty article: no title and no text")
	}
	finish(&a, name, modTime, o)
	return a, nil
}

// finish fills what every format leaves to defaults.
func finish(a *digest.Article, name string, modTime time.Time, o Options) {
	body := htmltext.Cap(a.Body.String(), o.TextBytes)
	a.Body = digest.NewText(body)
	a.SourceName = o.SourceName
	if a.Source == "" {
		a.Source = o.SourceName
	}
	if a.Published.IsZero() {
		a.Published = modTime.UTC()
	}
	if a.Published.IsZero() {
		a.Published = o.Now.UTC()
	}
	if a.URL == "" {
		a.URL = FileURL(name)
	}
	if a.Title == "" {
		a.Title = htmltext.TitleFromText(body)
	}
	if a.Title == "" {
		a.Title = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	if a.Summary == "" {
		a.Summary = body
	}
	a.Summary = htmltext.Truncate(htmltext.Collapse(a.Summary), o.SummaryChars)
	if a.ImageURL != "" && !feedparse.IsHTTPURL(a.ImageURL) {
		a.ImageURL = ""
	}
	a.ID = digest.ArticleID(a.GUID, a.URL, a.Title)
}

// FileURL is the file:// URL of a local file.
func FileURL(name string) string {
	abs, err := filepath.Abs(name)
	if err != nil {
		abs = name
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}
