package archive

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"
)

//go:embed pages/index.html
var pagesFS embed.FS

var indexTmpl = template.Must(template.ParseFS(pagesFS, "pages/index.html"))

type indexData struct {
	Lang, Title, Description string
	Atom, JSON, Subscribe    string
	Canonical                string
	Accent, AccentDark       template.CSS
	Editions                 []editionLink
	Issues                   []issueRow
	Prev, Next               string
	Page, Pages              int
}

type editionLink struct {
	Name, URL string
	Current   bool
}

type issueRow struct {
	URL, Subject, Edition, Date, DateISO, Summary string
	Articles                                      int
}

// writeIndex writes one list page: es are its issues, edition the filter
// ("" for all), editions the editions to offer (none when there is one).
func (a *Archive) writeIndex(w io.Writer, u urls, es []*Entry, edition string, editions []string, page, pages int) error {
	d := indexData{
		Lang: a.o.Language, Title: a.o.Title, Description: a.o.Description,
		Atom: u.atom(), JSON: u.json(), Subscribe: u.subscribe(),
		Canonical: u.absolute(u.index(edition, page)),
		Page:      page, Pages: pages,
		Accent: template.CSS(a.o.Accent), AccentDark: template.CSS(a.o.AccentDark),
	}
	if len(editions) > 1 {
		d.Editions = append(d.Editions, editionLink{Name: "All", URL: u.index(""), Current: edition == ""})
		for _, e := range editions {
			d.Editions = append(d.Editions, editionLink{Name: e, URL: u.index(e), Current: e == edition})
		}
	}
	for _, e := range es {
		t := e.Published().UTC()
		d.Issues = append(d.Issues, issueRow{
			URL: u.issue(e.ID), Subject: e.Page.Subject, Edition: e.Edition, Articles: e.Articles,
			Date: t.Format("2 Jan 2006"), DateISO: t.Format(time.RFC3339), Summary: e.Page.Summary,
		})
	}
	if page > 1 {
		d.Prev = u.index(edition, page-1)
	}
	if page < pages {
		d.Next = u.index(edition, page+1)
	}
	if err := indexTmpl.Execute(w, d); err != nil {
		return fmt.Errorf("archive: list page: %w", err)
	}
	return nil
}

// index writes list page `page` of edition for the web server.
func (a *Archive) index(ctx context.Context, w io.Writer, edition string, page int) error {
	editions, err := a.o.Store.ArchivedEditions(ctx)
	if err != nil {
		return err
	}
	es, pages, err := a.list(ctx, edition, page)
	if err != nil {
		return err
	}
	return a.writeIndex(w, a.web, es, edition, editions, page, pages)
}

func parsePage(s string) (int, bool) {
	if s == "" {
		return 1, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1
}
