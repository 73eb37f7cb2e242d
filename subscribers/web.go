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
	"strings"
	"time"

	"github.com/digest-newsletter/digest/links"
)

//go:embed pages/*.html pages/style.css
var pagesFS embed.FS

const (
	// maxBodyBytes bounds every request body: the largest legitimate one
	// is the subscribe form with a few dozen topics.
	maxBodyBytes = 64 << 10
	// requestTimeout bounds a handler's store work (no handler waits on
	// SMTP: mail goes through the outbox).
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
}

// NewHandler returns the web endpoints of DESIGN.md: GET /, POST /subscribe,
// GET+POST /confirm, GET+POST /unsubscribe, GET+POST /preferences, GET
// /healthz and the stylesheet. No GET changes anything: mail scanners and
// link checkers open every link.
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
	for _, r := range []struct {
		method string
		route  links.Route
		fn     http.HandlerFunc
	}{
		{"GET", links.Home, h.home},
		{"GET", links.Style, h.style},
		{"POST", links.Subscribe, h.subscribe},
		{"GET", links.Confirm, h.confirmPage},
		{"POST", links.Confirm, h.confirm},
		{"GET", links.Unsubscribe, h.unsubscribePage},
		{"POST", links.Unsubscribe, h.unsubscribe},
		{"GET", links.Preferences, h.preferencesPage},
		{"POST", links.Preferences, h.savePreferences},
		{"GET", links.Health, h.healthz},
	} {
		mux.HandleFunc(links.Pattern(r.method, r.route), r.fn)
	}
	return h.wrap(mux)
}

func newWeb(s *Service) (*web, error) {
	pages := map[string]*template.Template{}
	for _, name := range []string{"subscribe", "message", "confirm", "unsubscribe", "preferences"} {
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
	return &web{s: s, pages: pages, css: css}, nil
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
		// Leave room beyond the handlers' own timeout so they can answer.
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
