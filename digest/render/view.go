package render

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/vanng822/go-premailer/premailer"
)

// emailData is what email.html.tmpl and email.txt.tmpl see. Field names are
// part of the template contract (documented for override authors in the
// default templates).
type emailData struct {
	Lang          string
	Title         string
	Description   string
	Edition       string
	Subject       string
	Preheader     string
	Tagline       string // "weekly edition · 25 Nov 2026"
	DateText      string // "25 Nov 2026"
	DateISO       string // "2026-11-25"
	BaseURL       string
	WebURL        string
	LogoURL       string
	LogoAlt       string
	FooterText    string
	PostalAddress string
	Accent        htmltemplate.CSS
	AccentDark    htmltemplate.CSS
	Top           []articleView
	Topics        []topicView
	// Truncated is set when articles were left out to fit max_html_bytes
	// or max_per_topic; the templates then link to WebURL.
	Truncated bool
	// IssueURL is the issue's archive page ("View in browser"), "" when
	// the archive is off; the "more on the web" links go there.
	IssueURL  string
	Recipient recipientView
	// Web is set when the issue is rendered as a public web page (see
	// RenderPage): the templates then leave out the greeting and the
	// personal footer and add the page's head links.
	Web *webView
}

type recipientView struct {
	Name, Email, UnsubscribeURL, PreferencesURL string
}

type topicView struct {
	Name     string
	Articles []articleView
	Hidden   int // articles not shown
}

// articleView.URL and the Also URLs are http(s) or empty: an article file
// without a url has a file:// URL, which means nothing to a reader (and
// html/template would turn it into a dead "#ZgotmplZ" anchor), so the
// templates show such an article's title unlinked.
//
// Anchor is the article's id on its issue page; PageURL is the link to it
// there, set in emails (when the archive is on) for an article without a
// URL, so its cut summary leads somewhere.
type articleView struct {
	Title, URL, Source, Author, Summary, Anchor, PageURL string
	Date                                                 *dateView
	Also                                                 []digest.Also
}

type dateView struct{ Text, ISO string }

const dateLayout = "2 Jan 2006"

// view is a digest after the topic filter, before the per-topic cap.
type view struct {
	base   emailData
	top    []articleView
	topics []topicView
}

// Render renders the digest for the given topics, once, for every recipient
// who chose them.
//
// topics names the topics to keep (case-insensitive); nil or empty keeps
// all. The top stories always come, whatever the reader chose: they are
// the issue's lead. "More" (digest.MoreTopic) stands for everything no
// configured topic claims: the catch-all and the automatic topics. Articles
// shown under Top stories are not repeated in their topic, and a topic left
// empty is not shown.
//
// Each topic shows at most newsletter.max_per_topic articles. When the HTML
// would still exceed theme.max_html_bytes (worst case, see HTMLSize), fewer
// articles per topic are shown and the email links to theme.web_url (or
// newsletter.base_url) for the rest.
func (r *Renderer) Render(d *digest.Digest, topics []string) (*Rendered, error) {
	if d == nil {
		return nil, fmt.Errorf("render: nil digest")
	}
	v := r.buildView(d, topics)
	most := len(v.top)
	for _, t := range v.topics {
		most = max(most, len(t.Articles))
	}
	k := most
	if m := r.opts.Newsletter.MaxPerTopic; m > 0 && m < k {
		k = m
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, err
	}
	var prevK, prevSize int
	for {
		rd, err := r.renderAt(v, k, nonce)
		if err != nil {
			return nil, err
		}
		size := rd.HTMLSize()
		if size <= r.maxBytes {
			return rd, nil
		}
		if k == 0 {
			return nil, fmt.Errorf("render: %d bytes of HTML with no articles shown exceeds theme.max_html_bytes (%d)", size, r.maxBytes)
		}
		// Estimate the bytes one more article per topic costs from the
		// last two renders (or from this one alone), and jump there: the
		// inliner is the slow part, so fewer rounds matter.
		next := k - 1
		if prevSize > size && prevK > k {
			per := float64(prevSize-size) / float64(prevK-k)
			next = min(next, k-int(float64(size-r.maxBytes)/per+0.999))
		} else {
			next = min(next, k*r.maxBytes/size)
		}
		prevK, prevSize = k, size
		k = max(next, 0)
	}
}

// buildView applies the topic filter and turns articles into display values.
func (r *Renderer) buildView(d *digest.Digest, topics []string) *view {
	// The issue's own date, so a send resumed on another day renders the
	// same subject and masthead as the first messages of the issue.
	now := r.opts.Now()
	if !d.To.IsZero() {
		now = d.To.In(now.Location())
	}
	loc := now.Location()
	n := r.opts.Newsletter
	title := n.Title
	if d.Title != "" {
		title = d.Title
	}
	v := &view{}
	b := &v.base
	b.Lang = n.Language
	if b.Lang == "" {
		b.Lang = "en"
	}
	b.Title = title
	b.Description = n.Description
	b.Edition = d.Edition
	b.DateText = now.Format(dateLayout)
	b.DateISO = now.Format("2006-01-02")
	b.Tagline = b.DateText
	if d.Edition != "" {
		b.Tagline = d.Edition + " edition · " + b.DateText
	}
	b.BaseURL = n.BaseURL
	b.WebURL = r.webURL
	b.LogoURL = r.opts.Theme.LogoURL
	b.LogoAlt = r.opts.Theme.LogoAlt
	if b.LogoAlt == "" {
		b.LogoAlt = title
	}
	b.FooterText = r.opts.Theme.FooterText
	b.PostalAddress = n.PostalAddress
	b.Accent, b.AccentDark = r.accent, r.accentDark

	chose := func(name string) bool {
		for _, t := range topics {
			if strings.EqualFold(strings.TrimSpace(t), name) {
				return true
			}
		}
		return false
	}
	keep := func(t digest.Topic) bool {
		return len(topics) == 0 || chose(t.Name) ||
			((t.Auto || strings.EqualFold(t.Name, digest.MoreTopic)) && chose(digest.MoreTopic))
	}
	shownTop := map[string]bool{}
	for _, a := range d.Top {
		k := articleKey(a)
		if !shownTop[k] {
			shownTop[k] = true
			v.top = append(v.top, r.article(a, loc))
		}
	}
	for _, t := range d.Topics {
		if !keep(t) {
			continue
		}
		tv := topicView{Name: t.Name}
		for _, a := range t.Articles {
			if shownTop[articleKey(a)] {
				continue
			}
			tv.Articles = append(tv.Articles, r.article(a, loc))
		}
		if len(tv.Articles) > 0 {
			v.topics = append(v.topics, tv)
		}
	}
	return v
}

func articleKey(a digest.Article) string {
	if a.ID != "" {
		return a.ID
	}
	return a.URL
}

func (r *Renderer) article(a digest.Article, loc *time.Location) articleView {
	av := articleView{
		Title:   oneLine(a.Title),
		URL:     webURL(a.URL),
		Source:  oneLine(a.Source),
		Author:  oneLine(a.Author),
		Summary: oneLine(a.Summary),
		Anchor:  anchor(a),
	}
	if !a.Published.IsZero() {
		t := a.Published.In(loc)
		av.Date = &dateView{Text: t.Format(dateLayout), ISO: t.Format(time.RFC3339)}
	}
	for _, al := range a.Also {
		if al.URL == "" || al.Source == "" {
			continue
		}
		av.Also = append(av.Also, digest.Also{Source: oneLine(al.Source), URL: webURL(al.URL), Title: oneLine(al.Title)})
	}
	return av
}

// webURL returns u when it is an absolute http(s) URL a reader can open,
// else "".
func webURL(u string) string {
	u = strings.TrimSpace(u)
	for _, p := range []string{"https://", "http://"} {
		if len(u) > len(p) && strings.EqualFold(u[:len(p)], p) && !strings.ContainsAny(u, " \t\r\n") {
			return u
		}
	}
	return ""
}

// oneLine collapses runs of white space (feed text keeps stray newlines and
// tabs) so the text part wraps cleanly and the HTML has no odd gaps.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// limited is the template data with at most k articles per topic (and k top
// stories).
func (v *view) limited(k int) emailData {
	data := v.base
	if len(v.top) > k {
		data.Top = v.top[:k]
		data.Truncated = true
	} else {
		data.Top = v.top
	}
	data.Topics = make([]topicView, len(v.topics))
	for i, t := range v.topics {
		if len(t.Articles) > k {
			t.Hidden = len(t.Articles) - k
			t.Articles = t.Articles[:k]
			data.Truncated = true
		}
		data.Topics[i] = t
	}
	data.Preheader = preheader(data)
	return data
}

// preheader lists the lead titles (top stories, else the first topic's) for
// the inbox preview line.
func preheader(d emailData) string {
	list := d.Top
	if len(list) == 0 && len(d.Topics) > 0 {
		list = d.Topics[0].Articles
	}
	var b strings.Builder
	for _, a := range list {
		if b.Len() > 0 {
			b.WriteString(" · ")
		}
		b.WriteString(a.Title)
		if b.Len() >= 140 {
			break
		}
	}
	return truncateWords(b.String(), 150)
}

// truncateWords cuts s to at most n runes at a word boundary, adding "…".
func truncateWords(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	cut := string(rs[:n-1])
	if i := strings.LastIndexByte(cut, ' '); i > 0 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ·") + "…"
}

// renderAt runs the templates and the inliner for k articles per topic.
func (r *Renderer) renderAt(v *view, k int, nonce string) (*Rendered, error) {
	data := v.limited(k)
	if r.opts.IssueLinks {
		data.IssueURL = sentinel(nonce, slotIssue)
		data.Top = withPageURLs(data.Top, data.IssueURL)
		for i := range data.Topics {
			data.Topics[i].Articles = withPageURLs(data.Topics[i].Articles, data.IssueURL)
		}
	}
	data.Recipient = recipientView{
		Name:           sentinel(nonce, slotName),
		Email:          sentinel(nonce, slotEmail),
		UnsubscribeURL: sentinel(nonce, slotUnsub),
		PreferencesURL: sentinel(nonce, slotPrefs),
	}
	subject, html, err := r.subjectAndHTML(&data)
	if err != nil {
		return nil, err
	}
	var tb bytes.Buffer
	if err := r.text.ExecuteTemplate(&tb, tmplEmailText, data); err != nil {
		return nil, r.templateError(err)
	}
	text := wrapText(tb.String(), wrapWidth)

	shown := len(data.Top)
	for _, t := range data.Topics {
		shown += len(t.Articles)
	}
	rd := &Rendered{
		Subject:   subject,
		Preheader: data.Preheader,
		Articles:  shown,
		Truncated: data.Truncated,
		PerTopic:  k,
		fallback:  r.fallback,
		baseURL:   v.base.BaseURL,
	}
	rd.html = split([]byte(html), nonce)
	rd.text = split([]byte(text), nonce)
	return rd, nil
}

// inline moves the <style> rules into style attributes; the dark-mode block
// is marked data-premailer="ignore" in the templates and stays in the head.
func inline(html string) (string, error) {
	p, err := premailer.NewPremailerFromString(html, premailer.NewOptions())
	if err != nil {
		return "", fmt.Errorf("render: inline css: %w", err)
	}
	out, err := p.Transform()
	if err != nil {
		return "", fmt.Errorf("render: inline css: %w", err)
	}
	// The marker attribute has done its job; clients need not see it.
	return strings.ReplaceAll(out, ` data-premailer="ignore"`, ""), nil
}

// withPageURLs links the articles without a URL of their own to their
// place on the issue page. It copies: the view is rendered more than once.
func withPageURLs(as []articleView, issueURL string) []articleView {
	out := make([]articleView, len(as))
	for i, a := range as {
		if a.URL == "" {
			a.PageURL = issueURL + "#" + a.Anchor
		}
		out[i] = a
	}
	return out
}
