package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/digest-newsletter/digest/digest"
)

// PageLinks are the archive URLs an issue's web page links to. They are the
// same for every reader: a page carries no name, address or token.
type PageLinks struct {
	// Issue is the page's own URL (canonical link, og:url).
	Issue string
	// Archive is the list of issues; Atom and JSON are the feeds.
	Archive, Atom, JSON string
	// Subscribe is the sign-up form.
	Subscribe string
}

// webView is what email.html.tmpl sees when it renders an issue page (nil
// in an email).
type webView struct {
	PageLinks
	Description string // og:description
}

// Page is an issue rendered once for a neutral reader: the same template
// and look as the email, every article shown (nothing is cut: this is where
// "more on the web" leads), and no personal part.
type Page struct {
	Subject string
	// Summary is the lead titles (the email's preheader).
	Summary string
	// HTML is the whole page.
	HTML []byte
	// Content is the articles alone, as an HTML fragment for feed entries.
	Content []byte
}

// RenderPage renders d as a web page for the public archive.
func (r *Renderer) RenderPage(d *digest.Digest, l PageLinks) (*Page, error) {
	if d == nil {
		return nil, fmt.Errorf("render: nil digest")
	}
	v := r.buildView(d, nil)
	most := len(v.top)
	for _, t := range v.topics {
		most = max(most, len(t.Articles))
	}
	data := v.limited(most)
	data.Web = &webView{PageLinks: l, Description: data.Preheader}
	// An article without a URL of its own links to its place here: a
	// permalink on the page, and the only link a feed reader gets for it.
	if l.Issue != "" {
		data.Top = withPageURLs(data.Top, l.Issue)
		for i := range data.Topics {
			data.Topics[i].Articles = withPageURLs(data.Topics[i].Articles, l.Issue)
		}
	}
	subject, html, err := r.subjectAndHTML(&data)
	if err != nil {
		return nil, err
	}
	var cb bytes.Buffer
	if err := r.html.ExecuteTemplate(&cb, defFeedContent, data); err != nil {
		return nil, r.templateError(err)
	}
	return &Page{Subject: subject, Summary: data.Preheader, HTML: []byte(html), Content: cb.Bytes()}, nil
}

// anchor names an article on its issue page. It is derived from the
// article's identity, not its position, so an email rendered for some
// topics links to the same place as the page showing all of them.
func anchor(a digest.Article) string {
	sum := sha256.Sum256([]byte(articleKey(a)))
	return "a-" + hex.EncodeToString(sum[:5])
}
