package archive

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"time"
)

// The feeds are written with encoding/xml and encoding/json from structs
// that follow the specs field by field: no feed library we could use
// writes JSON Feed 1.1 (gorilla/feeds writes version 1), and these two
// shapes are small and fixed.

const (
	atomNS          = "http://www.w3.org/2005/Atom"
	jsonFeedVersion = "https://jsonfeed.org/version/1.1"
	generator       = "digest"
)

// Atom 1.0, RFC 4287.
type atomFeed struct {
	XMLName   xml.Name    `xml:"feed"`
	NS        string      `xml:"xmlns,attr"`
	Lang      string      `xml:"xml:lang,attr,omitempty"`
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Subtitle  string      `xml:"subtitle,omitempty"`
	Updated   string      `xml:"updated"`
	Links     []atomLink  `xml:"link"`
	Author    atomPerson  `xml:"author"`
	Generator string      `xml:"generator"`
	Entries   []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	ID        string     `xml:"id"`
	Title     string     `xml:"title"`
	Updated   string     `xml:"updated"`
	Published string     `xml:"published"`
	Links     []atomLink `xml:"link"`
	Summary   string     `xml:"summary,omitempty"`
	Content   atomText   `xml:"content"`
}

// JSON Feed 1.1, https://www.jsonfeed.org/version/1.1/.
type jsonFeed struct {
	Version     string       `json:"version"`
	Title       string       `json:"title"`
	HomePageURL string       `json:"home_page_url"`
	FeedURL     string       `json:"feed_url"`
	Description string       `json:"description,omitempty"`
	Language    string       `json:"language,omitempty"`
	Authors     []jsonAuthor `json:"authors"`
	Items       []jsonItem   `json:"items"`
}

type jsonAuthor struct {
	Name string `json:"name"`
}

type jsonItem struct {
	ID            string `json:"id"`
	URL           string `json:"url"`
	Title         string `json:"title"`
	ContentHTML   string `json:"content_html"`
	Summary       string `json:"summary,omitempty"`
	DatePublished string `json:"date_published"`
	DateModified  string `json:"date_modified,omitempty"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// updated is the newest entry's time, or the epoch for an empty feed (a
// fixed value keeps an empty feed byte-for-byte stable).
func updated(es []*Entry) time.Time {
	if len(es) == 0 {
		return time.Unix(0, 0)
	}
	return es[0].Published()
}

// writeAtom writes es (newest first) as an Atom feed with links from u.
func (a *Archive) writeAtom(w io.Writer, es []*Entry, u urls) error {
	f := atomFeed{
		NS: atomNS, Lang: a.o.Language,
		ID: u.absolute(u.index("")), Title: a.o.Title, Subtitle: a.o.Description,
		Updated: rfc3339(updated(es)),
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: u.absolute(u.atom())},
			{Rel: "alternate", Type: "text/html", Href: u.absolute(u.index(""))},
		},
		Author:    atomPerson{Name: a.o.Title},
		Generator: generator,
	}
	for _, e := range es {
		link := u.canonical(e.ID)
		f.Entries = append(f.Entries, atomEntry{
			ID: link, Title: e.Page.Subject,
			Updated: rfc3339(e.Published()), Published: rfc3339(e.Published()),
			Links:   []atomLink{{Rel: "alternate", Type: "text/html", Href: link}},
			Summary: e.Page.Summary,
			Content: atomText{Type: "html", Body: string(e.Page.Content)},
		})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("archive: atom: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("archive: atom: %w", err)
	}
	return nil
}

// writeJSON writes es (newest first) as a JSON Feed with links from u.
func (a *Archive) writeJSON(w io.Writer, es []*Entry, u urls) error {
	f := jsonFeed{
		Version: jsonFeedVersion, Title: a.o.Title,
		HomePageURL: u.absolute(u.index("")), FeedURL: u.absolute(u.json()),
		Description: a.o.Description, Language: a.o.Language,
		Authors: []jsonAuthor{{Name: a.o.Title}},
		Items:   []jsonItem{},
	}
	for _, e := range es {
		link := u.canonical(e.ID)
		f.Items = append(f.Items, jsonItem{
			ID: link, URL: link, Title: e.Page.Subject,
			ContentHTML: string(e.Page.Content), Summary: e.Page.Summary,
			DatePublished: rfc3339(e.Published()),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("archive: json feed: %w", err)
	}
	return nil
}
