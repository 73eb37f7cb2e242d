package archive

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/digest-newsletter/digest/links"
)

// urls are the archive's links as one place publishes them: the web server
// (absolute URLs from links.Builder) or a static export (relative file
// names, so the folder works on any static host).
type urls struct {
	base   *links.Builder // the newsletter's site: the subscribe form, the served archive
	static bool
	// root is the absolute URL an export will be served at, for what must
	// be absolute (og:url, canonical, feed ids and links).
	root string
}

func serverURLs(baseURL string) (urls, error) {
	b, err := links.NewBuilder(baseURL, nil)
	if err != nil {
		return urls{}, err
	}
	return urls{base: b}, nil
}

// exported is the set for a static copy served at root ("" for
// {base_url}/archive).
func (u urls) exported(root string) urls {
	root = strings.TrimRight(root, "/")
	if root == "" {
		root = u.base.URL(links.Archive)
	}
	return urls{base: u.base, static: true, root: root}
}

// issue is the link to an issue's page from another archive page.
func (u urls) issue(id int64) string {
	if u.static {
		return strconv.FormatInt(id, 10) + ".html"
	}
	return u.base.IssueURL(id)
}

// canonical is the issue's absolute address, for og:url and feed entries.
func (u urls) canonical(id int64) string {
	if u.static {
		return u.root + "/" + u.issue(id)
	}
	return u.issue(id)
}

// absolute makes a link from u absolute (feeds want absolute links).
func (u urls) absolute(link string) string {
	if u.static {
		return u.root + "/" + link
	}
	return link
}

// index is the list page of an edition ("" for all) at page p (from 1).
func (u urls) index(edition string, p ...int) string {
	if u.static {
		return "index.html"
	}
	var q []string
	if edition != "" {
		q = append(q, "edition="+url.QueryEscape(edition))
	}
	if len(p) > 0 && p[0] > 1 {
		q = append(q, "page="+strconv.Itoa(p[0]))
	}
	s := u.base.URL(links.Archive)
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

func (u urls) atom() string {
	if u.static {
		return "feed.atom"
	}
	return u.base.URL(links.ArchiveAtom)
}

func (u urls) json() string {
	if u.static {
		return "feed.json"
	}
	return u.base.URL(links.ArchiveJSON)
}

// subscribe is the sign-up form; an export has no server of its own, so
// it links to the configured one.
func (u urls) subscribe() string { return u.base.URL(links.Home) }
