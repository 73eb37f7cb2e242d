package archive

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/digest-newsletter/digest/links"
)

// headers go with every archive answer. The pages are the email's HTML:
// inline styles and <style> blocks, images only from https (a logo), no
// script, no forms. They are public and the same for everyone, so caches
// may keep them for a while.
var headers = [][2]string{
	{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "strict-origin-when-cross-origin"},
	{"Cache-Control", "public, max-age=300"},
}

// Register adds the archive's routes to mux: GET /archive, /archive/{issue},
// /archive/feed.atom and /archive/feed.json.
func (a *Archive) Register(mux *http.ServeMux) {
	mux.HandleFunc(links.Pattern("GET", links.Archive), a.serveIndex)
	mux.HandleFunc(links.Pattern("GET", links.ArchiveIssue), a.serveIssue)
	mux.HandleFunc(links.Pattern("GET", links.ArchiveAtom), a.serveAtom)
	mux.HandleFunc(links.Pattern("GET", links.ArchiveJSON), a.serveJSON)
}

func (a *Archive) serveIndex(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(r.URL.Query().Get("page"))
	if !ok {
		http.Error(w, "page must be a number from 1", http.StatusBadRequest)
		return
	}
	edition := r.URL.Query().Get("edition")
	if edition != "" {
		eds, err := a.o.Store.ArchivedEditions(r.Context())
		if err != nil {
			a.fail(w, err)
			return
		}
		if !slices.Contains(eds, edition) {
			http.NotFound(w, r)
			return
		}
	}
	var b bytes.Buffer
	if err := a.index(r.Context(), &b, edition, page); err != nil {
		a.fail(w, err)
		return
	}
	a.write(w, "text/html; charset=utf-8", b.Bytes())
}

func (a *Archive) serveIssue(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("issue"), 10, 64)
	if err != nil || id <= 0 {
		http.NotFound(w, r)
		return
	}
	e, err := a.Issue(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	a.write(w, "text/html; charset=utf-8", e.Page.HTML)
}

func (a *Archive) serveAtom(w http.ResponseWriter, r *http.Request) {
	a.serveFeed(w, r, "application/atom+xml; charset=utf-8", a.writeAtom)
}

func (a *Archive) serveJSON(w http.ResponseWriter, r *http.Request) {
	a.serveFeed(w, r, "application/feed+json; charset=utf-8", a.writeJSON)
}

func (a *Archive) serveFeed(w http.ResponseWriter, r *http.Request, ctype string, write func(io.Writer, []*Entry, urls) error) {
	es, err := a.newest(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	var b bytes.Buffer
	if err := write(&b, es, a.web); err != nil {
		a.fail(w, err)
		return
	}
	a.write(w, ctype, b.Bytes())
}

func (a *Archive) write(w http.ResponseWriter, ctype string, body []byte) {
	for _, kv := range headers {
		w.Header().Set(kv[0], kv[1])
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func (a *Archive) fail(w http.ResponseWriter, err error) {
	a.o.Logger.Error("archive", "error", err)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "internal error", http.StatusInternalServerError)
}
