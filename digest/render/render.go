// Package render turns a digest.Digest into the HTML and plain-text parts of
// an email, from the templates in package templates (or a folder that
// overrides them by file name).
//
// Rendering is split in two so a send to thousands stays cheap: Render runs
// the templates and the CSS inliner once per issue (or per distinct topic
// set), with random sentinels where the per-recipient values go; Personalize
// then splices a recipient's name, address and links into precomputed
// segments without touching a template or the inliner again.
package render

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/templates"
)

// Template files the renderer executes; each must exist (embedded or
// overridden).
const (
	tmplEmailHTML   = "email.html.tmpl"
	tmplEmailText   = "email.txt.tmpl"
	tmplConfirmHTML = "confirm.html.tmpl"
	tmplConfirmText = "confirm.txt.tmpl"
	tmplPreview     = "preview.html.tmpl"
	// defFeedContent is a define in the HTML set (archive.html.tmpl by
	// default): an issue's articles for a feed entry.
	defFeedContent = "feed_content"
	// Defines inside the text set (subjects.txt.tmpl by default).
	defSubject        = "subject"
	defConfirmSubject = "confirm_subject"
	defFallbackName   = "fallback_name"
)

// Options configures a Renderer.
type Options struct {
	Newsletter config.Newsletter
	Theme      config.Theme
	// TemplatesDir is a resolved folder path or "". A *.html.tmpl or
	// *.txt.tmpl file there replaces the embedded file of the same name;
	// other such files are added (as partials).
	TemplatesDir string
	// IssueLinks puts the issue's archive page in every email ("View in
	// browser", "more on the web"): [archive] enabled. The URL itself is
	// set per issue with Rendered.SetIssueURL.
	IssueLinks bool
	// Now gives the issue date for the subject and masthead; nil means
	// time.Now. Article dates are shown in Now's location.
	Now func() time.Time
}

// Renderer holds parsed, validated templates and the theme. It is safe for
// concurrent use.
type Renderer struct {
	opts       Options
	html       *htmltemplate.Template
	text       *texttemplate.Template
	sources    map[string]string // template file name -> path shown in errors
	accent     htmltemplate.CSS
	accentDark htmltemplate.CSS
	webURL     string
	maxBytes   int
	fallback   string // name used when a recipient has none ("there")
	confirm    *Rendered
	confirmSub string
}

// TemplateError is a template that failed to parse or execute. File is the
// template's path (the override file's path, or the embedded file name).
type TemplateError struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *TemplateError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("render: template %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("render: template %s: %s", e.File, e.Msg)
}

// New parses the templates, checks that every one the renderer needs is
// there, and renders a sample digest and confirmation once so execution
// errors (a missing field, an unknown template) show at start-up with the
// file and line rather than at send time.
func New(opts Options) (*Renderer, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Renderer{opts: opts, sources: map[string]string{}}
	r.maxBytes = opts.Theme.MaxHTMLBytes
	if r.maxBytes <= 0 {
		r.maxBytes = config.DefaultMaxHTMLBytes
	}
	r.webURL = opts.Theme.WebURL
	if r.webURL == "" {
		r.webURL = opts.Newsletter.BaseURL
	}
	accent := opts.Theme.AccentColor
	if accent == "" {
		accent = config.DefaultAccentColor
	}
	light, dark, err := accentPair(accent)
	if err != nil {
		return nil, fmt.Errorf("render: theme.accent_color: %w", err)
	}
	r.accent, r.accentDark = htmltemplate.CSS(light), htmltemplate.CSS(dark)

	if err := r.parse(); err != nil {
		return nil, err
	}
	// An override file replaces a whole embedded file, defines and all, so
	// a define the renderer calls by name can go missing with it.
	for _, name := range []string{tmplEmailHTML, tmplConfirmHTML, tmplPreview, defFeedContent} {
		if r.html.Lookup(name) == nil {
			return nil, fmt.Errorf("render: template %s is missing", name)
		}
	}
	for _, name := range []string{tmplEmailText, tmplConfirmText} {
		if r.text.Lookup(name) == nil {
			return nil, fmt.Errorf("render: template %s is missing", name)
		}
	}
	for _, name := range []string{defSubject, defConfirmSubject} {
		if r.text.Lookup(name) == nil {
			return nil, fmt.Errorf("render: template %s: no {{define %q}} (the default is in subjects.txt.tmpl)", r.source("subjects.txt.tmpl"), name)
		}
	}
	r.fallback = "there"
	if r.text.Lookup(defFallbackName) != nil {
		s, err := r.execLine(defFallbackName, nil)
		if err != nil {
			return nil, err
		}
		r.fallback = s
	}

	sample, err := r.Render(sampleDigest(opts.Now()), nil)
	if err != nil {
		return nil, err
	}
	p := Recipient{Name: "Sample Reader", Email: "reader@example.org", UnsubscribeURL: "https://example.org/u", PreferencesURL: "https://example.org/p"}
	sample.Personalize(p)
	if err := r.prepareConfirmation(); err != nil {
		return nil, err
	}
	if _, err := r.preview(sample, p); err != nil {
		return nil, err
	}
	if _, err := r.RenderPage(sampleDigest(opts.Now()), PageLinks{
		Issue: "https://example.org/archive/1", Archive: "https://example.org/archive",
		Atom: "https://example.org/archive/feed.atom", JSON: "https://example.org/archive/feed.json",
		Subscribe: "https://example.org/",
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// funcs are shared by the HTML and text sets so a partial can move between
// files without breaking.
func (r *Renderer) textFuncs() texttemplate.FuncMap {
	return texttemplate.FuncMap{
		"upper":   strings.ToUpper,
		"heading": textHeading,
	}
}

func (r *Renderer) htmlFuncs() htmltemplate.FuncMap {
	return htmltemplate.FuncMap{
		"upper":   strings.ToUpper,
		"heading": textHeading,
		// Outlook for Windows ignores max-width: a fixed 600px table inside
		// conditional comments holds the column there. html/template strips
		// comments from template text, so they come in as trusted HTML.
		"msoOpen": func() htmltemplate.HTML {
			return `<!--[if mso]><table role="presentation" align="center" width="600" cellpadding="0" cellspacing="0" border="0"><tr><td><![endif]-->`
		},
		"msoClose": func() htmltemplate.HTML {
			return `<!--[if mso]></td></tr></table><![endif]-->`
		},
		// A run of zero-width joiners and non-breaking spaces after the
		// preheader keeps clients from filling the inbox preview with body
		// text.
		"spacer": func() htmltemplate.HTML {
			return htmltemplate.HTML(strings.Repeat("&#847;&zwnj;&nbsp;", 40))
		},
	}
}

// textHeading underlines a heading for the plain-text part.
func textHeading(s string) string {
	s = strings.ToUpper(s)
	n := len([]rune(s))
	if n > wrapWidth {
		n = wrapWidth
	}
	return s + "\n" + strings.Repeat("=", n)
}

// parse loads every *.html.tmpl and *.txt.tmpl from the embedded FS and the
// override folder, the folder winning by name.
func (r *Renderer) parse() error {
	files := map[string][]byte{}
	entries, err := fs.ReadDir(templates.FS, ".")
	if err != nil {
		return fmt.Errorf("render: embedded templates: %w", err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(templates.FS, e.Name())
		if err != nil {
			return fmt.Errorf("render: embedded template %s: %w", e.Name(), err)
		}
		files[e.Name()] = data
		r.sources[e.Name()] = e.Name()
	}
	if dir := r.opts.TemplatesDir; dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("render: templates_dir: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !(strings.HasSuffix(name, ".html.tmpl") || strings.HasSuffix(name, ".txt.tmpl")) {
				continue
			}
			path := filepath.Join(dir, name)
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("render: templates_dir: %w", err)
			}
			files[name] = data
			r.sources[name] = path
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)

	r.html = htmltemplate.New("").Funcs(r.htmlFuncs())
	r.text = texttemplate.New("").Funcs(r.textFuncs())
	for _, name := range names {
		var err error
		switch {
		case strings.HasSuffix(name, ".html.tmpl"):
			_, err = r.html.New(name).Parse(string(files[name]))
		case strings.HasSuffix(name, ".txt.tmpl"):
			_, err = r.text.New(name).Parse(string(files[name]))
		default:
			continue
		}
		if err != nil {
			return r.templateError(err)
		}
	}
	return nil
}

// tmplErrRe picks the file and line out of text/template and html/template
// errors: "template: NAME:LINE: ...", "template: NAME:LINE:COL: executing
// ...", "html/template:NAME:LINE:COL: ...".
var tmplErrRe = regexp.MustCompile(`^(?:html/)?template: ?([^:\s]+):(\d+):(?:\d+:)? ?(.*)$`)

// templateError turns a template package error into a TemplateError naming
// the file (with its override path) and line.
func (r *Renderer) templateError(err error) error {
	var he *htmltemplate.Error
	msg := err.Error()
	if errors.As(err, &he) && he.Node == nil && he.Name != "" {
		return &TemplateError{File: r.source(he.Name), Line: he.Line, Msg: he.Description}
	}
	if m := tmplErrRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[2])
		return &TemplateError{File: r.source(m[1]), Line: line, Msg: m[3]}
	}
	return fmt.Errorf("render: %w", err)
}

func (r *Renderer) source(name string) string {
	if p, ok := r.sources[name]; ok {
		return p
	}
	return name
}

// execLine runs a one-line define from the text set and flattens it.
func (r *Renderer) execLine(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := r.text.ExecuteTemplate(&b, name, data); err != nil {
		return "", r.templateError(err)
	}
	return strings.Join(strings.Fields(b.String()), " "), nil
}

// subjectAndHTML sets data's subject and returns it with the HTML body,
// CSS inlined: the part an email and an archive page share.
func (r *Renderer) subjectAndHTML(data *emailData) (subject, html string, err error) {
	if subject, err = r.execLine(defSubject, *data); err != nil {
		return "", "", err
	}
	data.Subject = subject
	var hb bytes.Buffer
	if err := r.html.ExecuteTemplate(&hb, tmplEmailHTML, *data); err != nil {
		return "", "", r.templateError(err)
	}
	html, err = inline(hb.String())
	return subject, html, err
}
