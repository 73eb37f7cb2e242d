package links

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Route is a page of the web server, as a path below base_url. The web
// handlers register these same values, so a route and its links cannot
// drift apart.
//
// The public archive (issue pages at archive/{issue}) joins this list as
// Archive = "archive" with an IssueURL(id) builder: its pages carry no
// token, so they need nothing from the Signer.
type Route string

// Routes.
const (
	Home        Route = ""
	Subscribe   Route = "subscribe"
	Confirm     Route = "confirm"
	Unsubscribe Route = "unsubscribe"
	Preferences Route = "preferences"
	Style       Route = "style.css"
	Health      Route = "healthz"
)

// Pattern is the net/http ServeMux pattern for method and r ("GET /{$}"
// for Home).
func Pattern(method string, r Route) string {
	if r == Home {
		return method + " /{$}"
	}
	return method + " /" + string(r)
}

// Relative is the link to r from a page served under base_url: every
// route is one segment deep, so "./" is the root wherever base_url mounts
// the server. token may be empty.
func Relative(r Route, token string) string {
	return "./" + string(r) + query(token)
}

func query(token string) string {
	if token == "" {
		return ""
	}
	return "?token=" + url.QueryEscape(token)
}

// Placeholder is the token written into links when there is no secret to
// sign with (a dry run or a preview without one): such links work nowhere.
const Placeholder = "PREVIEW"

// Builder makes the absolute URLs that leave the server: in emails, in
// List-Unsubscribe headers, in the preview.
type Builder struct {
	base   string // without the trailing slash
	signer *Signer
}

// NewBuilder checks baseURL (an absolute http or https URL) and returns a
// Builder. A nil signer makes links with the Placeholder token.
func NewBuilder(baseURL string, signer *Signer) (*Builder, error) {
	base := strings.TrimRight(strings.TrimSpace(baseURL), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("links: newsletter.base_url %q is not an absolute http(s) URL", baseURL)
	}
	return &Builder{base: base, signer: signer}, nil
}

// Signer returns the signer, nil when links carry the placeholder.
func (b *Builder) Signer() *Signer { return b.signer }

// URL is the absolute URL of r without a token.
func (b *Builder) URL(r Route) string {
	if r == Home {
		return b.base + "/"
	}
	return b.base + "/" + string(r)
}

// Token signs a token for p made for who, issued at issued (zero: now),
// or returns the Placeholder without a signer.
func (b *Builder) Token(p Purpose, who Subject, issued time.Time) string {
	if b.signer == nil {
		return Placeholder
	}
	return b.signer.Sign(Claims{Purpose: p, Issued: issued}, who)
}

// UnsubscribeURL is the link for List-Unsubscribe and the visible footer
// link. Tokens issued at a fixed time (an issue's creation) make the same
// URL every time, so a resumed send builds identical messages.
func (b *Builder) UnsubscribeURL(who Subject, issued time.Time) string {
	return b.URL(Unsubscribe) + query(b.Token(PurposeUnsubscribe, who, issued))
}

// PreferencesURL is the link to change topics and edition.
func (b *Builder) PreferencesURL(who Subject, issued time.Time) string {
	return b.URL(Preferences) + query(b.Token(PurposePreferences, who, issued))
}

// ConfirmURL is the double opt-in link.
func (b *Builder) ConfirmURL(who Subject, issued time.Time) string {
	return b.URL(Confirm) + query(b.Token(PurposeConfirm, who, issued))
}
