package render

import (
	"bytes"
	htmltemplate "html/template"
	"strings"
)

// confirmData is what confirm.html.tmpl and confirm.txt.tmpl see. It holds
// nothing a visitor typed: the confirmation goes to any address someone
// enters in the form, so free text in it would make us a spam relay.
type confirmData struct {
	Lang, Title, Description, Tagline, Subject string
	BaseURL, LogoURL, LogoAlt                  string
	FooterText, PostalAddress                  string
	Accent, AccentDark                         htmltemplate.CSS
	ConfirmURL                                 string
}

// prepareConfirmation renders the confirmation email once, with a sentinel
// for the link, so each subscribe costs a copy rather than an inlining.
func (r *Renderer) prepareConfirmation() error {
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	n := r.opts.Newsletter
	d := confirmData{
		Lang: n.Language, Title: n.Title, Description: n.Description,
		BaseURL: n.BaseURL, LogoURL: r.opts.Theme.LogoURL, LogoAlt: r.opts.Theme.LogoAlt,
		FooterText: r.opts.Theme.FooterText, PostalAddress: n.PostalAddress,
		Accent: r.accent, AccentDark: r.accentDark,
		ConfirmURL: sentinel(nonce, slotUnsub),
	}
	if d.Lang == "" {
		d.Lang = "en"
	}
	if d.LogoAlt == "" {
		d.LogoAlt = d.Title
	}
	subject, err := r.execLine(defConfirmSubject, d)
	if err != nil {
		return err
	}
	d.Subject = subject
	var hb, tb bytes.Buffer
	if err := r.html.ExecuteTemplate(&hb, tmplConfirmHTML, d); err != nil {
		return r.templateError(err)
	}
	html, err := inline(hb.String())
	if err != nil {
		return err
	}
	if err := r.text.ExecuteTemplate(&tb, tmplConfirmText, d); err != nil {
		return r.templateError(err)
	}
	r.confirmSub = subject
	r.confirm = &Rendered{
		Subject:  subject,
		fallback: r.fallback,
		baseURL:  n.BaseURL,
		html:     split([]byte(html), nonce),
		text:     split([]byte(wrapText(tb.String(), wrapWidth)), nonce),
	}
	return nil
}

// Confirmation is the double opt-in email for a subscribe request. The
// link must be an http(s) URL (it is the only value spliced in).
func (r *Renderer) Confirmation(confirmURL string) (subject string, html, text []byte, err error) {
	if safeURL(confirmURL, "") == "" || strings.HasPrefix(strings.ToLower(strings.TrimSpace(confirmURL)), "mailto:") {
		return "", nil, nil, &TemplateError{File: tmplConfirmHTML, Msg: "confirmation link must be an http(s) URL"}
	}
	html, text = r.confirm.Personalize(Recipient{UnsubscribeURL: confirmURL})
	return r.confirmSub, html, text, nil
}

type previewData struct {
	Subject, Preheader   string
	HTML, DarkHTML, Text string
	HTMLBytes, TextBytes int
	MaxHTMLBytes         int
}

// PreviewPage is a web page showing the email as p would get it, in the
// light and the dark scheme side by side, and its text part.
//
// The dark pane's iframe has color-scheme: dark, and its copy of the email
// also has the prefers-color-scheme: dark media query turned on
// unconditionally, since not every browser passes an iframe's scheme on to
// the page inside.
func (r *Renderer) PreviewPage(rd *Rendered, p Recipient) []byte {
	b, err := r.preview(rd, p)
	if err != nil {
		// New executed this template on a sample, so only a template
		// that fails on some data gets here; show the error, not a blank.
		return []byte("<!DOCTYPE html><title>Preview failed</title><pre>" +
			htmltemplate.HTMLEscapeString(err.Error()) + "</pre>")
	}
	return b
}

func (r *Renderer) preview(rd *Rendered, p Recipient) ([]byte, error) {
	html, text := rd.Personalize(p)
	d := previewData{
		Subject:      rd.Subject,
		Preheader:    rd.Preheader,
		HTML:         string(html),
		DarkHTML:     strings.ReplaceAll(string(html), "@media (prefers-color-scheme: dark)", "@media all"),
		Text:         string(text),
		HTMLBytes:    len(html),
		TextBytes:    len(text),
		MaxHTMLBytes: r.maxBytes,
	}
	var b bytes.Buffer
	if err := r.html.ExecuteTemplate(&b, tmplPreview, d); err != nil {
		return nil, r.templateError(err)
	}
	return b.Bytes(), nil
}
