package subscribers

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/outbox"
)

// testClock is a settable clock shared by the service and the tokens.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// webEnv is a real stack: SQLite in t.TempDir(), the real mailer talking to a
// real SMTP server on loopback, the real renderer and the real handlers.
type webEnv struct {
	t      *testing.T
	db     *store.DB
	smtp   *smtptest.Server
	svc    *Service
	srv    *httptest.Server
	clock  *testClock
	tokens *links.Signer
	outbox *outbox.Worker
	client *http.Client
}

const testBaseURL = "https://news.example.org"

func testNewsletter() config.Newsletter {
	nl := config.Default().Newsletter
	nl.Title = "The Region Brief"
	nl.Description = "The week's regional news in one calm email."
	nl.From = "The Region Brief <brief@example.org>"
	nl.BaseURL = testBaseURL
	nl.PostalAddress = "1 Example Street, City"
	return nl
}

func newWebEnv(t *testing.T, tweak ...func(*ServiceOptions)) *webEnv {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newWebEnvOn(t, db, tweak...)
}

// newWebEnvOn is newWebEnv on a store the caller opened: several
// instances of the web tier on one store.
func newWebEnvOn(t *testing.T, db *store.DB, tweak ...func(*ServiceOptions)) *webEnv {
	t.Helper()
	smtpSrv := smtptest.Start(t)
	m, err := mailer.New(mailer.Options{Host: smtpSrv.Host, Port: smtpSrv.Port, TLS: "none", Concurrency: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	nl := testNewsletter()
	cfg := config.Default()
	r, err := render.New(render.Options{Newsletter: nl, Theme: cfg.Theme, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := links.NewSigner([]byte("test-secret-0123456789"), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := links.NewBuilder(nl.BaseURL, tokens)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(outbox.Options{Store: db, Sender: m, Holder: "test", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	o := ServiceOptions{
		Store: db, Links: lb, Renderer: r, Outbox: ob,
		Newsletter: nl, Server: cfg.Server,
		Editions: []config.Edition{
			{Name: "weekly", Schedule: "@weekly", Description: "Monday mornings"},
			{Name: "daily", Schedule: "@daily", Description: "Every morning at 7"},
		},
		Topics: []string{"Security", "Economy", "Culture"},
		Now:    clock.Now,
		// The floor is wall-clock time; TestSubscribeAnswerFloor checks it.
		AnswerFloor: -1,
	}
	for _, f := range tweak {
		f(&o)
	}
	svc, err := NewService(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(svc))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &webEnv{t: t, db: db, smtp: smtpSrv, svc: svc, srv: srv, clock: clock, tokens: tokens, outbox: ob, client: client}
}

// sign makes a token of purpose p for sub, issued now.
func (e *webEnv) sign(p links.Purpose, sub store.Subscriber) string {
	return e.tokens.Sign(links.Claims{Purpose: p}, links.Subject{ID: sub.ID, Stamp: sub.Stamp})
}

// flush sends what the outbox holds, as the worker of digest serve does.
func (e *webEnv) flush() outbox.Stats {
	e.t.Helper()
	st, err := e.outbox.Flush(context.Background())
	if err != nil {
		e.t.Fatalf("outbox: %v", err)
	}
	return st
}

// confirmForm posts the Confirm button of the page a confirm link opens.
func (e *webEnv) confirmForm(tok string) webResponse {
	e.t.Helper()
	return e.post("/confirm", url.Values{"token": {tok}})
}

type webResponse struct {
	code   int
	header http.Header
	body   string
}

func (e *webEnv) do(req *http.Request) webResponse {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return webResponse{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (e *webEnv) get(path string) webResponse {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

func (e *webEnv) post(path string, form url.Values, header ...string) webResponse {
	e.t.Helper()
	return e.postRaw(path, "application/x-www-form-urlencoded", form.Encode(), header...)
}

func (e *webEnv) postRaw(path, contentType, body string, header ...string) webResponse {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(req)
}

func subscribeForm(email string, topics ...string) url.Values {
	return url.Values{"email": {email}, "name": {"Ann"}, "topics": topics, "edition": {"daily"}}
}

func (e *webEnv) subscriber(email string) store.Subscriber {
	e.t.Helper()
	s, err := e.db.SubscriberByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatalf("subscriber %s: %v", email, err)
	}
	return s
}

func (e *webEnv) count() int {
	e.t.Helper()
	n, err := e.db.CountSubscribers(context.Background(), store.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *webEnv) consentKinds(id int64) []string {
	e.t.Helper()
	evs, err := e.db.ConsentEvents(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	return kinds
}

// confirmed subscribes email through the form, follows the link from the
// email, presses Confirm and returns the subscriber.
func (e *webEnv) confirmed(email string, topics ...string) store.Subscriber {
	e.t.Helper()
	before := e.smtp.Len()
	if r := e.post("/subscribe", subscribeForm(email, topics...)); r.code != http.StatusOK {
		e.t.Fatalf("subscribe %s: %d %s", email, r.code, r.body)
	}
	e.flush()
	msgs := e.smtp.Messages()
	if len(msgs) != before+1 {
		e.t.Fatalf("want one confirmation mail, have %d new", len(msgs)-before)
	}
	tok := confirmToken(e.t, msgs[len(msgs)-1].Data)
	if r := e.get("/confirm?token=" + tok); r.code != http.StatusOK {
		e.t.Fatalf("confirm page %s: %d %s", email, r.code, r.body)
	}
	if r := e.confirmForm(tok); r.code != http.StatusOK {
		e.t.Fatalf("confirm %s: %d %s", email, r.code, r.body)
	}
	return e.subscriber(email)
}

var confirmLinkRe = regexp.MustCompile(regexp.QuoteMeta(testBaseURL) + `/confirm\?token=([a-z2-7]+)`)

// confirmToken finds the confirm link in a raw message's decoded bodies.
func confirmToken(t *testing.T, raw []byte) string {
	t.Helper()
	m := confirmLinkRe.FindStringSubmatch(decodedMail(t, raw))
	if m == nil {
		t.Fatalf("no confirm link in:\n%s", raw)
	}
	return m[1]
}

// decodedMail returns the header block and every decoded body part of raw.
func decodedMail(t *testing.T, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for k, vs := range msg.Header {
		for _, v := range vs {
			dec, err := new(mime.WordDecoder).DecodeHeader(v)
			if err != nil {
				dec = v
			}
			b.WriteString(k + ": " + dec + "\n")
		}
	}
	walkPart(t, &b, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return b.String()
}

func walkPart(t *testing.T, b *strings.Builder, ctype, cte string, body io.Reader) {
	t.Helper()
	mt, params, _ := mime.ParseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			walkPart(t, b, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	b.Write(data)
	b.WriteString("\n")
}

// bodies returns the decoded body parts of raw, without the headers.
func bodies(t *testing.T, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	walkPart(t, &b, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return b.String()
}
