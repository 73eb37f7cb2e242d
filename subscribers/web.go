package subscribers

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
)

//go:embed pages/*.html pages/style.css
var pagesFS embed.FS

const (
	// maxBodyBytes bounds every request body: the largest legitimate one
	// is the subscribe form with a few dozen topics.
	maxBodyBytes = 64 << 10
	// requestTimeout bounds a handler's store and SMTP work.
	requestTimeout = 30 * time.Second
	// healthTimeout bounds the store ping of /healthz.
	healthTimeout = 2 * time.Second
	// honeypotField is a text field hidden from people (CSS, aria-hidden,
	// tabindex=-1) that form-filling bots tend to fill.
	honeypotField = "website"
)

// securityHeaders are sent with every answer. Pages load nothing but their
// own stylesheet; tokens live in URLs, so no Referer may leak them.
var securityHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
	{"X-Frame-Options", "DENY"},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cache-Control", "no-store"},
}

type web struct {
	s     *Service
	pages map[string]*template.Template
	css   []byte
	perIP *limiter
}

// NewHandler returns the web endpoints of DESIGN.md: GET /, POST /subscribe,
// GET /confirm, GET+POST /unsubscribe, GET+POST /preferences, GET /healthz
// and the stylesheet.
func NewHandler(s *Service) http.Handler {
	h, err := newWeb(s)
	if err != nil {
		// The pages are embedded, so this is a build defect that the
		// tests catch; answer 500 rather than crash the daemon.
		s.log.Error("subscribe pages", "err", err)
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "internal error", http.StatusInternalServerError)
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.home)
	mux.HandleFunc("GET /style.css", h.style)
	mux.HandleFunc("POST /subscribe", h.subscribe)
	mux.HandleFunc("GET /confirm", h.confirm)
	mux.HandleFunc("GET /unsubscribe", h.unsubscribePage)
	mux.HandleFunc("POST /unsubscribe", h.unsubscribe)
	mux.HandleFunc("GET /preferences", h.preferencesPage)
	mux.HandleFunc("POST /preferences", h.savePreferences)
	mux.HandleFunc("GET /healthz", h.healthz)
	return h.wrap(mux)
}

func newWeb(s *Service) (*web, error) {
	pages := map[string]*template.Template{}
	for _, name := range []string{"subscribe", "message", "unsubscribe", "preferences"} {
		t, err := template.ParseFS(pagesFS, "pages/layout.html", "pages/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("subscribers: parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	css, err := pagesFS.ReadFile("pages/style.css")
	if err != nil {
		return nil, fmt.Errorf("subscribers: read style.css: %w", err)
	}
	return &web{s: s, pages: pages, css: css,
		perIP: newLimiter(s.srv.RatePerIP, s.srv.RateWindow, s.maxKeys)}, nil
}

// wrap adds the security headers, the body limit and the request timeout.
func (h *web) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, kv := range securityHeaders {
			w.Header().Set(kv[0], kv[1])
		}
		if r.ContentLength > maxBodyBytes {
			h.tooLarge(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// NewServer returns an http.Server for h with timeouts that keep slow
// clients from holding connections. Run it with Serve for a clean shutdown.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		// Subscribe waits for the SMTP server; leave room beyond the
		// handlers' own timeout so they can answer.
		WriteTimeout:   requestTimeout + 10*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
	}
}

// Serve serves srv on ln until ctx is done, then shuts down gracefully:
// new connections are refused and requests in flight get up to grace to
// finish. It returns nil after a clean shutdown.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("subscribers: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("subscribers: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("subscribers: serve: %w", err)
	}
	return nil
}

// ListenAndServe listens on srv.Addr and calls Serve.
func ListenAndServe(ctx context.Context, srv *http.Server, grace time.Duration) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("subscribers: listen: %w", err)
	}
	return Serve(ctx, srv, ln, grace)
}

// clientIP is the address throttles and consent records use: the TCP peer,
// or with server.trust_proxy the last X-Forwarded-For entry, the one our
// own proxy appended (entries before it are whatever the client sent).
func (h *web) clientIP(r *http.Request) string {
	if h.s.srv.TrustProxy {
		vals := r.Header.Values("X-Forwarded-For")
		if len(vals) > 0 {
			parts := strings.Split(vals[len(vals)-1], ",")
			if ip, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return ip.Unmap().String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().String()
	}
	return host
}

// throttleKey groups IPv6 clients by /64: one host usually owns a whole
// /64 and could otherwise rotate through it.
func throttleKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// parseForm reads an urlencoded or multipart body within the body limit.
func parseForm(r *http.Request) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		err := r.ParseMultipartForm(maxBodyBytes)
		if r.MultipartForm != nil {
			r.MultipartForm.RemoveAll()
		}
		return err
	}
	return r.ParseForm()
}

func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

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
		link{URL: "./", Text: "Back to " + h.s.nl.Title})
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
	out := make([]choice, len(h.s.topics))
	for i, t := range h.s.topics {
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

func (h *web) home(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "subscribe", h.subscribeForm("", "", nil, ""))
}

func (h *web) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	secs := max(1, int(retry.Round(time.Second)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	h.message(w, r, http.StatusTooManyRequests, "Too many attempts",
		[]string{"Please wait a little and try again. If you already subscribed, the confirmation email is on its way: check your inbox and spam folder."})
}

// subscribe answers the same thank-you page for new, pending and confirmed
// addresses and for a filled honeypot, so the page tells nothing about who
// is on the list.
func (h *web) subscribe(w http.ResponseWriter, r *http.Request) {
	ip := h.clientIP(r)
	if ok, retry := h.perIP.allow(throttleKey(ip), h.s.now()); !ok {
		h.tooMany(w, r, retry)
		return
	}
	if err := parseForm(r); err != nil {
		h.badForm(w, r, err)
		return
	}
	f := r.PostForm
	if strings.TrimSpace(f.Get(honeypotField)) != "" {
		h.s.log.InfoContext(r.Context(), "subscribe: honeypot filled, ignored", "ip", ip)
		h.thanks(w, r)
		return
	}
	req := SubscribeRequest{
		Email: f.Get("email"), Name: f.Get("name"), Topics: f["topics"], Edition: f.Get("edition"),
		IP: ip, UserAgent: r.UserAgent(), Form: FormWeb,
	}
	err := h.s.Subscribe(r.Context(), req)
	var ae *AddressError
	switch {
	case err == nil:
		h.thanks(w, r)
	case errors.As(err, &ae):
		// Refill single-line fields without the control characters that
		// made the address bad.
		p := h.subscribeForm(oneLine(req.Email), cleanName(req.Name), req.Topics, req.Edition)
		// The reason, not the input: the input is refilled in the field.
		p.Error, p.Heading = reasonSentence(ae.Reason), "Check your address"
		h.render(w, r, http.StatusBadRequest, "subscribe", p)
	case errors.Is(err, ErrThrottled):
		h.tooMany(w, r, h.s.srv.ConfirmEvery)
	default:
		h.serverError(w, r, "subscribe", err)
	}
}

func (h *web) thanks(w http.ResponseWriter, r *http.Request) {
	hours := int(h.s.srv.ConfirmTTL.Round(time.Hour) / time.Hour)
	h.message(w, r, http.StatusOK, "Check your inbox", []string{
		"Thank you! If this address is not yet on the list, we have sent it an email with a link to confirm your subscription.",
		fmt.Sprintf("The link works for %d hours. Nothing more is sent until you click it. No email? Check your spam folder.", hours),
	})
}

// tokenError answers a bad link with a 4xx page; nothing has changed.
func (h *web) tokenError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrTokenExpired):
		h.message(w, r, http.StatusGone, "This link has expired",
			[]string{"Links in our emails stop working after a while. Please subscribe again to get a fresh one."},
			link{URL: "./", Text: "Subscribe to " + h.s.nl.Title})
	case errors.Is(err, ErrTokenInvalid), errors.Is(err, ErrStaleLink):
		h.message(w, r, http.StatusBadRequest, "This link is not valid",
			[]string{"It may have been cut off or changed, or it was replaced by a newer one. Please use the latest link we sent you."},
			link{URL: "./", Text: "Go to " + h.s.nl.Title})
	default:
		h.serverError(w, r, "token link", err)
	}
}

func (h *web) confirm(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// Link checkers probe with HEAD: answer, but change nothing.
		if _, err := h.s.VerifyLink(r.URL.Query().Get("token"), PurposeConfirm); err != nil {
			h.tokenError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	sub, err := h.s.Confirm(r.Context(), r.URL.Query().Get("token"), h.clientIP(r), r.UserAgent())
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	prefs := h.s.tokens.Sign(PurposePreferences, sub.ID)
	h.message(w, r, http.StatusOK, "You're subscribed", []string{
		"Thank you for confirming. The next " + h.s.nl.Title + " will reach your inbox.",
		"Every digest has a link to change your topics or to unsubscribe with one click.",
	}, link{URL: "./preferences?token=" + prefs, Text: "Choose topics and edition"})
}

func (h *web) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	sub, err := h.s.Subscriber(r.Context(), tok, PurposeUnsubscribe)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	p := h.base("Unsubscribe")
	p.Token, p.PrefsToken = tok, h.s.tokens.Sign(PurposePreferences, sub.ID)
	p.Masked, p.Unsubscribed = maskAddress(sub.Email), sub.Status == store.StatusUnsubscribed
	h.render(w, r, http.StatusOK, "unsubscribe", p)
}

// unsubscribe is both the page's button and RFC 8058 one-click: the token
// in the URL is the only authority, the body (List-Unsubscribe=One-Click,
// urlencoded or multipart, or nothing) is not required, and the answer is
// a plain 200 with no redirect and no cookie.
func (h *web) unsubscribe(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil && isTooLarge(err) {
		h.tooLarge(w, r)
		return
	}
	// A malformed body does not stop an unsubscribe: the token decides.
	tok := r.URL.Query().Get("token")
	if tok == "" && r.PostForm != nil {
		tok = r.PostForm.Get("token")
	}
	id, err := h.s.VerifyLink(tok, PurposeUnsubscribe)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	form := FormWeb
	if r.PostForm != nil && r.PostForm.Get("List-Unsubscribe") == "One-Click" {
		form = FormOneClick
	}
	if err := h.s.Unsubscribe(r.Context(), id, h.clientIP(r), r.UserAgent(), form); err != nil {
		h.serverError(w, r, "unsubscribe", err)
		return
	}
	h.message(w, r, http.StatusOK, "You're unsubscribed", []string{
		"You will not receive " + h.s.nl.Title + " any more.",
	}, link{URL: "./", Text: "Changed your mind? Subscribe again"})
}

// Preferences accept the preferences token and the unsubscribe token, so
// any link from a digest leads here.
var prefPurposes = []Purpose{PurposePreferences, PurposeUnsubscribe}

func (h *web) preferencesPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	sub, err := h.s.Subscriber(r.Context(), tok, prefPurposes...)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "preferences", h.prefsPage(sub, tok, false))
}

func (h *web) prefsPage(sub store.Subscriber, tok string, saved bool) page {
	p := h.base("Preferences")
	p.Token, p.UnsubToken = tok, h.s.tokens.Sign(PurposeUnsubscribe, sub.ID)
	p.Masked, p.Saved = maskAddress(sub.Email), saved
	p.Unsubscribed = sub.Status == store.StatusUnsubscribed || sub.Status == store.StatusBounced
	p.Topics, p.Editions = h.topicChoices(sub.Topics), h.editionChoices(sub.Edition)
	return p
}

func (h *web) savePreferences(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		h.badForm(w, r, err)
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	sub, err := h.s.Subscriber(r.Context(), tok, prefPurposes...)
	if err != nil {
		h.tokenError(w, r, err)
		return
	}
	sub, err = h.s.SetPreferences(r.Context(), sub.ID, r.PostForm["topics"], r.PostForm.Get("edition"), h.clientIP(r), r.UserAgent())
	if err != nil {
		h.serverError(w, r, "preferences", err)
		return
	}
	h.render(w, r, http.StatusOK, "preferences", h.prefsPage(sub, tok, true))
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
