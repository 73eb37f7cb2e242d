package subscribers

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
)

// tamper flips one character in the middle of a token.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	return string(b)
}

func TestConfirmBadTokens(t *testing.T) {
	e := newWebEnv(t)
	e.post("/subscribe", subscribeForm("wait@example.org"))
	e.flush()
	sub := e.subscriber("wait@example.org")
	good := confirmToken(t, e.smtp.Messages()[0].Data)
	other, _ := links.NewSigner([]byte("some-other-secret-key"), e.clock.Now)

	tests := []struct {
		name  string
		token string
		later time.Duration // clock moves before the request
		want  int
	}{
		{"missing", "", 0, http.StatusBadRequest},
		{"garbage", "not-a-token", 0, http.StatusBadRequest},
		{"tampered", tamper(good), 0, http.StatusBadRequest},
		{"forged with another key", other.Sign(links.Claims{Purpose: links.PurposeConfirm}, links.Subject{ID: sub.ID, Stamp: sub.Stamp}), 0, http.StatusBadRequest},
		{"unsubscribe token", e.sign(links.PurposeUnsubscribe, sub), 0, http.StatusBadRequest},
		{"preferences token", e.sign(links.PurposePreferences, sub), 0, http.StatusBadRequest},
		{"unknown subscriber", e.sign(links.PurposeConfirm, store.Subscriber{ID: sub.ID + 100}), 0, http.StatusBadRequest},
		{"same id, another stamp", e.sign(links.PurposeConfirm, store.Subscriber{ID: sub.ID, Stamp: sub.Stamp + 1}), 0, http.StatusBadRequest},
		{"expired after 48h", good, 48*time.Hour + time.Minute, http.StatusGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Add(tt.later)
			for _, r := range []webResponse{e.get("/confirm?token=" + url.QueryEscape(tt.token)), e.confirmForm(tt.token),
				e.post("/confirm?token="+url.QueryEscape(tt.token), nil)} {
				if r.code != tt.want {
					t.Fatalf("status %d, want %d\n%s", r.code, tt.want, r.body)
				}
				if !strings.Contains(r.body, `role="alert"`) {
					t.Fatal("error page without role=alert")
				}
			}
			s := e.subscriber("wait@example.org")
			if s.Status != store.StatusPending || !s.Confirmed.IsZero() {
				t.Fatalf("state changed: %+v", s)
			}
			if got := e.consentKinds(sub.ID); !slices.Equal(got, []string{store.ConsentSubscribe}) {
				t.Fatalf("consent rows %v", got)
			}
		})
	}
}

func TestConfirmHeadChangesNothing(t *testing.T) {
	e := newWebEnv(t)
	e.post("/subscribe", subscribeForm("probe@example.org"))
	e.flush()
	tok := confirmToken(t, e.smtp.Messages()[0].Data)
	req, _ := http.NewRequest(http.MethodHead, e.srv.URL+"/confirm?token="+tok, nil)
	if r := e.do(req); r.code != http.StatusOK {
		t.Fatalf("HEAD: %d", r.code)
	}
	req, _ = http.NewRequest(http.MethodHead, e.srv.URL+"/confirm?token="+tamper(tok), nil)
	if r := e.do(req); r.code != http.StatusBadRequest {
		t.Fatalf("HEAD with a tampered token: %d", r.code)
	}
	if s := e.subscriber("probe@example.org"); s.Status != store.StatusPending {
		t.Fatalf("HEAD confirmed: %s", s.Status)
	}
}

func TestUnsubscribe(t *testing.T) {
	type post struct {
		contentType, body string
	}
	multipartBody := func(fields map[string]string) post {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, v := range fields {
			w.WriteField(k, v)
		}
		w.Close()
		return post{w.FormDataContentType(), b.String()}
	}
	tests := []struct {
		name string
		req  post
		form string
	}{
		{"one-click urlencoded", post{"application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"}, FormOneClick},
		{"one-click multipart", multipartBody(map[string]string{"List-Unsubscribe": "One-Click"}), FormOneClick},
		{"empty body", post{"", ""}, FormWeb},
		{"page button (empty urlencoded)", post{"application/x-www-form-urlencoded", ""}, FormWeb},
		{"malformed multipart", post{"multipart/form-data; boundary=x", "garbage"}, FormWeb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newWebEnv(t)
			sub := e.confirmed("leaving@example.org")
			tok := e.sign(links.PurposeUnsubscribe, sub)

			// Link scanners prefetch: GETs show the page and change nothing.
			for range 3 {
				r := e.get("/unsubscribe?token=" + tok)
				if r.code != http.StatusOK || !strings.Contains(r.body, `<form method="post" action="./unsubscribe?token=`+tok+`"`) ||
					!strings.Contains(r.body, `<button type="submit">Unsubscribe</button>`) || !strings.Contains(r.body, `<span class="nowrap">le…@example.org</span>`) {
					t.Fatalf("GET /unsubscribe: %d\n%s", r.code, r.body)
				}
				if strings.Count(r.body, "<button") != 1 {
					t.Fatal("the unsubscribe page must have exactly one button")
				}
			}
			if s := e.subscriber("leaving@example.org"); s.Status != store.StatusConfirmed {
				t.Fatalf("GET changed state: %s", s.Status)
			}
			if r := e.get("/preferences?token=" + tok); r.code != http.StatusOK {
				t.Fatalf("GET /preferences with an unsubscribe token: %d", r.code)
			}

			e.clock.Add(59 * 24 * time.Hour) // unsubscribe links live at least 60 days
			r := e.postRaw("/unsubscribe?token="+tok, tt.req.contentType, tt.req.body, "User-Agent", "Gmail one-click")
			if r.code != http.StatusOK {
				t.Fatalf("POST: %d\n%s", r.code, r.body)
			}
			if r.header.Get("Location") != "" || r.header.Get("Set-Cookie") != "" {
				t.Fatalf("redirect or cookie: %v", r.header)
			}
			s := e.subscriber("leaving@example.org")
			if s.Status != store.StatusUnsubscribed || !s.Unsubscribed.Equal(e.clock.Now()) {
				t.Fatalf("after POST: %+v", s)
			}
			evs, err := e.db.ConsentEvents(context.Background(), sub.ID)
			if err != nil || len(evs) != 3 {
				t.Fatalf("consent history %+v, %v", evs, err)
			}
			last := evs[2]
			if last.Kind != store.ConsentUnsubscribe || last.Form != tt.form || !last.At.Equal(e.clock.Now()) || last.UserAgent != "Gmail one-click" {
				t.Fatalf("unsubscribe event %+v", last)
			}
			// Idempotent: again is 200 and records nothing.
			if r := e.postRaw("/unsubscribe?token="+tok, tt.req.contentType, tt.req.body); r.code != http.StatusOK {
				t.Fatalf("second POST: %d", r.code)
			}
			if kinds := e.consentKinds(sub.ID); len(kinds) != 3 {
				t.Fatalf("second POST recorded %v", kinds)
			}
			if r := e.get("/unsubscribe?token=" + tok); r.code != http.StatusOK || !strings.Contains(r.body, "is not subscribed") {
				t.Fatalf("GET after unsubscribe: %d", r.code)
			}
		})
	}
}

func TestUnsubscribeBadTokens(t *testing.T) {
	e := newWebEnv(t)
	sub := e.confirmed("staying@example.org")
	good := e.sign(links.PurposeUnsubscribe, sub)
	tests := []struct {
		name, path string
		later      time.Duration
		want       int
	}{
		{"no token", "/unsubscribe", 0, http.StatusBadRequest},
		{"tampered", "/unsubscribe?token=" + tamper(good), 0, http.StatusBadRequest},
		{"confirm token", "/unsubscribe?token=" + e.sign(links.PurposeConfirm, sub), 0, http.StatusBadRequest},
		{"preferences token", "/unsubscribe?token=" + e.sign(links.PurposePreferences, sub), 0, http.StatusBadRequest},
		{"expired (unsubscribe_ttl 90 days)", "/unsubscribe?token=" + good, 91 * 24 * time.Hour, http.StatusGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Add(tt.later)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var r webResponse
				if method == http.MethodGet {
					r = e.get(tt.path)
				} else {
					r = e.postRaw(tt.path, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
				}
				if r.code != tt.want {
					t.Fatalf("%s: %d, want %d", method, r.code, tt.want)
				}
			}
			if s := e.subscriber("staying@example.org"); s.Status != store.StatusConfirmed {
				t.Fatalf("state changed: %s", s.Status)
			}
		})
	}
}

func TestPreferences(t *testing.T) {
	e := newWebEnv(t)
	sub := e.confirmed("picky@example.org", "Security")
	tok := e.sign(links.PurposePreferences, sub)

	r := e.get("/preferences?token=" + tok)
	if r.code != http.StatusOK {
		t.Fatalf("GET: %d", r.code)
	}
	for _, want := range []string{
		`value="Security" id="topic-0" checked`, `value="Economy" id="topic-1" aria`,
		`value="daily" id="edition-1" checked`, `name="token" value="` + tok + `"`, `<span class="nowrap">pi…@example.org</span>`,
		`href="./unsubscribe?token=`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("preferences page lacks %q", want)
		}
	}

	form := url.Values{"token": {tok}, "topics": {"Economy", "Culture"}, "edition": {"weekly"}}
	r = e.post("/preferences", form)
	if r.code != http.StatusOK || !strings.Contains(r.body, "Saved.") {
		t.Fatalf("POST: %d\n%s", r.code, r.body)
	}
	s := e.subscriber("picky@example.org")
	if !slices.Equal(s.Topics, []string{"Economy", "Culture"}) || s.Edition != "weekly" || s.Status != store.StatusConfirmed {
		t.Fatalf("saved %+v", s)
	}
	if kinds := e.consentKinds(sub.ID); kinds[len(kinds)-1] != store.ConsentPreferences {
		t.Fatalf("consent %v", kinds)
	}

	// Every topic ticked means all topics, including ones added later.
	e.post("/preferences", url.Values{"token": {tok}, "topics": {"Security", "Economy", "Culture"}, "edition": {"daily"}})
	if s := e.subscriber("picky@example.org"); s.Topics != nil || s.Edition != "daily" {
		t.Fatalf("all topics: %+v", s)
	}

	// The unsubscribe token from a digest works here too.
	unsub := e.sign(links.PurposeUnsubscribe, sub)
	if r := e.post("/preferences?token="+unsub, url.Values{"topics": {"Culture"}, "edition": {"weekly"}}); r.code != http.StatusOK {
		t.Fatalf("POST with unsubscribe token in the URL: %d", r.code)
	}
	if s := e.subscriber("picky@example.org"); !slices.Equal(s.Topics, []string{"Culture"}) {
		t.Fatalf("with unsubscribe token: %+v", s)
	}

	for name, bad := range map[string]string{
		"tampered":      tamper(tok),
		"confirm token": e.sign(links.PurposeConfirm, sub),
		"empty":         "",
	} {
		t.Run(name, func(t *testing.T) {
			if r := e.get("/preferences?token=" + url.QueryEscape(bad)); r.code != http.StatusBadRequest {
				t.Fatalf("GET: %d", r.code)
			}
			r := e.post("/preferences", url.Values{"token": {bad}, "topics": {"Security"}, "edition": {"weekly"}})
			if r.code != http.StatusBadRequest {
				t.Fatalf("POST: %d", r.code)
			}
			if s := e.subscriber("picky@example.org"); !slices.Equal(s.Topics, []string{"Culture"}) {
				t.Fatalf("changed by a bad token: %+v", s)
			}
		})
	}
}
