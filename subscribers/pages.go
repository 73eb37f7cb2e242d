package subscribers

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/digest-newsletter/digest/links"
)

// page is what every template gets; each page uses the fields it needs.
type page struct {
	Lang, Newsletter, Description, Root string
	Heading                             string
	Paragraphs                          []string
	Links                               []link
	Error                               string
	Alert                               bool // the message is a problem, not a success

	// subscribe and preferences forms
	Email, Name, ConsentText string
	Topics                   []choice
	Editions                 []choice

	// token pages
	Token, PrefsToken, UnsubToken string
	Masked                        string
	Unsubscribed, Saved           bool
}

type link struct{ URL, Text string }

type choice struct {
	Name, ID, Label, Description string
	Checked                      bool
}

func (h *web) base(heading string) page {
	return page{
		Lang: h.s.nl.Language, Newsletter: h.s.nl.Title, Description: h.s.nl.Description,
		// Every route is one segment deep, so "./" is the root wherever
		// base_url mounts us.
		Root: "./", Heading: heading,
	}
}

func (h *web) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Lang == "" {
		p.Lang = "en"
	}
	var b strings.Builder
	if err := h.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		h.s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(b.String()))
	}
}

func (h *web) message(w http.ResponseWriter, r *http.Request, status int, heading string, paras []string, links ...link) {
	p := h.base(heading)
	p.Paragraphs, p.Links = paras, links
	p.Alert = status >= 400
	h.render(w, r, status, "message", p)
}

func (h *web) tooLarge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	h.message(w, r, http.StatusRequestEntityTooLarge, "Request too large",
		[]string{"That was more than this form ever sends."})
}

func (h *web) badForm(w http.ResponseWriter, r *http.Request, err error) {
	if isTooLarge(err) {
		h.tooLarge(w, r)
		return
	}
	h.message(w, r, http.StatusBadRequest, "Bad request", []string{"The form could not be read. Please try again."})
}

func (h *web) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.s.log.ErrorContext(r.Context(), what, "err", err)
	h.message(w, r, http.StatusServiceUnavailable, "Something went wrong",
		[]string{"We could not finish that just now. Please try again in a few minutes."},
		link{URL: links.Relative(links.Home, ""), Text: "Back to " + h.s.nl.Title})
}

func (h *web) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Content-Length", strconv.Itoa(len(h.css)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(h.css)
	}
}

func (h *web) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.s.Ping(ctx); err != nil {
		h.s.log.WarnContext(ctx, "healthz: store does not answer", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("store unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// topicChoices lists the configured topics, ticked as in chosen (empty
// means all).
func (h *web) topicChoices(chosen []string) []choice {
	out := make([]choice, len(h.s.roster.topics))
	for i, t := range h.s.roster.topics {
		checked := len(chosen) == 0
		for _, c := range chosen {
			if strings.EqualFold(c, t) {
				checked = true
			}
		}
		out[i] = choice{Name: t, ID: "topic-" + strconv.Itoa(i), Checked: checked}
	}
	return out
}

func (h *web) editionChoices(chosen string) []choice {
	out := make([]choice, len(h.s.editions))
	known := false
	for _, e := range h.s.editions {
		known = known || e.Name == chosen
	}
	for i, e := range h.s.editions {
		label := e.Name
		if label != "" {
			label = strings.ToUpper(label[:1]) + label[1:]
		}
		out[i] = choice{
			Name: e.Name, ID: "edition-" + strconv.Itoa(i), Label: label, Description: e.Description,
			Checked: e.Name == chosen || (!known && i == 0),
		}
	}
	return out
}

func (h *web) subscribeForm(email, name string, topics []string, edition string) page {
	p := h.base("")
	p.Email, p.Name, p.ConsentText = email, name, h.s.srv.ConsentText
	p.Topics, p.Editions = h.topicChoices(topics), h.editionChoices(edition)
	return p
}

// reasonSentence turns an AddressError reason ("is empty", "the domain
// must be ...") into a sentence about the address.
func reasonSentence(reason string) string {
	reason = strings.TrimSuffix(strings.TrimSpace(reason), ".")
	if reason == "" {
		return "The address cannot be used."
	}
	if strings.HasPrefix(reason, "is ") || strings.HasPrefix(reason, "contains ") {
		return "The address " + reason + "."
	}
	return strings.ToUpper(reason[:1]) + reason[1:] + "."
}

// maskAddress shows enough of an address for its owner to recognise it
// (al…@example.org) and little to anyone a link was forwarded to.
func maskAddress(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return "your address"
	}
	local := []rune(email[:at])
	keep := min(2, len(local))
	if len(local) <= 2 {
		keep = 1
	}
	return string(local[:keep]) + "…" + email[at:]
}
