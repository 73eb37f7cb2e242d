package subscribers

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/digest-newsletter/digest/links"
)

func TestHealthz(t *testing.T) {
	e := newWebEnv(t)
	if r := e.get("/healthz"); r.code != http.StatusOK {
		t.Fatalf("healthz with a working store: %d", r.code)
	}
	e.db.Close()
	if r := e.get("/healthz"); r.code != http.StatusServiceUnavailable {
		t.Fatalf("healthz with a closed store: %d", r.code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newWebEnv(t)
	sub := e.confirmed("headers@example.org")
	tok := e.sign(links.PurposeUnsubscribe, sub)
	reqs := map[string]func() webResponse{
		"GET /":            func() webResponse { return e.get("/") },
		"POST /subscribe":  func() webResponse { return e.post("/subscribe", subscribeForm("bad")) },
		"GET /confirm":     func() webResponse { return e.get("/confirm?token=x") },
		"GET /unsubscribe": func() webResponse { return e.get("/unsubscribe?token=" + tok) },
		"GET /preferences": func() webResponse { return e.get("/preferences?token=" + tok) },
		"GET /healthz":     func() webResponse { return e.get("/healthz") },
		"GET /missing":     func() webResponse { return e.get("/missing") },
	}
	for name, do := range reqs {
		t.Run(name, func(t *testing.T) {
			h := do().header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			for k, want := range map[string]string{
				"X-Frame-Options":        "DENY",
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if h.Get("Set-Cookie") != "" {
				t.Error("a cookie was set")
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	e := newWebEnv(t)
	big := "email=a%40example.org&name=" + strings.Repeat("x", maxBodyBytes)
	for _, path := range []string{"/subscribe", "/unsubscribe?token=x", "/preferences"} {
		t.Run(path, func(t *testing.T) {
			if r := e.postRaw(path, "application/x-www-form-urlencoded", big); r.code != http.StatusRequestEntityTooLarge {
				t.Fatalf("with Content-Length: %d", r.code)
			}
			// Chunked, no Content-Length: the reader limit catches it.
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, io.MultiReader(strings.NewReader(big)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.ContentLength = -1
			if r := e.do(req); r.code != http.StatusRequestEntityTooLarge {
				t.Fatalf("chunked: %d", r.code)
			}
		})
	}
	if e.count() != 0 {
		t.Fatal("a too large request stored a subscriber")
	}
}

func TestMethods(t *testing.T) {
	e := newWebEnv(t)
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/subscribe"},
		{http.MethodPut, "/unsubscribe"},
		{http.MethodDelete, "/preferences"},
		{http.MethodPut, "/confirm"},
	} {
		req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
		if r := e.do(req); r.code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405", tt.method, tt.path, r.code)
		}
	}
}

func TestServeShutsDownCleanly(t *testing.T) {
	e := newWebEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), NewHandler(e.svc))
	if srv.ReadHeaderTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("server without limits: %+v", srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, 5*time.Second) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestThrottleKeyIPv6(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":             "203.0.113.7",
		"2001:db8:1:2:aaaa::1":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:1:2:3": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
	} {
		if got := throttleKey(in); got != want {
			t.Errorf("throttleKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		remote, xff string
		trust       bool
		want        string
	}{
		{"192.0.2.1:1234", "", false, "192.0.2.1"},
		{"192.0.2.1:1234", "203.0.113.9", false, "192.0.2.1"},
		{"192.0.2.1:1234", "203.0.113.9", true, "203.0.113.9"},
		{"192.0.2.1:1234", "6.6.6.6, 203.0.113.9", true, "203.0.113.9"}, // the client's own claim is ignored
		{"192.0.2.1:1234", "garbage", true, "192.0.2.1"},
		{"[2001:db8::1]:443", "", false, "2001:db8::1"},
		{"[::ffff:192.0.2.5]:443", "", false, "192.0.2.5"},
	}
	for _, tt := range tests {
		t.Run(tt.remote+" "+tt.xff, func(t *testing.T) {
			h := &web{s: &Service{}}
			h.s.srv.TrustProxy = tt.trust
			r := httptest.NewRequest(http.MethodPost, "/subscribe", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := h.clientIP(r); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	if a, b := throttleKey("2001:db8::1"), throttleKey("2001:db8::ffff"); a != b || a != "2001:db8::/64" {
		t.Fatalf("IPv6 clients not grouped by /64: %q %q", a, b)
	}
}

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.org": "al…@example.org",
		"ab@example.org":    "a…@example.org",
		"a@example.org":     "a…@example.org",
		"ünï@example.org":   "ün…@example.org",
	} {
		if got := maskAddress(in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// TestPagesAccessible checks the structure assistive technology relies on:
// a language, one h1, a label for every visible field, a legend for every
// group, and buttons with text.
func TestPagesAccessible(t *testing.T) {
	e := newWebEnv(t)
	sub := e.confirmed("a11y@example.org")
	pages := map[string]webResponse{
		"subscribe":     e.get("/"),
		"address error": e.post("/subscribe", url.Values{"email": {"nope"}}),
		"thanks":        e.post("/subscribe", subscribeForm("other@example.org")),
		"unsubscribe":   e.get("/unsubscribe?token=" + e.sign(links.PurposeUnsubscribe, sub)),
		"preferences":   e.get("/preferences?token=" + e.sign(links.PurposePreferences, sub)),
		"bad link":      e.get("/confirm?token=bad"),
	}
	for name, r := range pages {
		t.Run(name, func(t *testing.T) {
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			if lang, _ := doc.Find("html").Attr("lang"); lang == "" {
				t.Error("no lang on <html>")
			}
			if n := doc.Find("h1").Length(); n != 1 {
				t.Errorf("%d h1 elements", n)
			}
			if doc.Find("title").Text() == "" {
				t.Error("no title")
			}
			doc.Find("input").Each(func(_ int, in *goquery.Selection) {
				typ, _ := in.Attr("type")
				if typ == "hidden" {
					return
				}
				id, _ := in.Attr("id")
				if id == "" || doc.Find(`label[for="`+id+`"]`).Length() != 1 {
					t.Errorf("input %q (type %s) has no label", id, typ)
				}
			})
			doc.Find("fieldset").Each(func(_ int, fs *goquery.Selection) {
				if strings.TrimSpace(fs.Find("legend").Text()) == "" {
					t.Error("fieldset without legend")
				}
			})
			doc.Find("button").Each(func(_ int, b *goquery.Selection) {
				if strings.TrimSpace(b.Text()) == "" {
					t.Error("button without text")
				}
			})
		})
	}
}
