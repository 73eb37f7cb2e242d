package subscribers

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
)

func TestHomePage(t *testing.T) {
	e := newWebEnv(t)
	r := e.get("/")
	if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", r.code, r.header.Get("Content-Type"))
	}
	for _, want := range []string{
		"The Region Brief", "The week&#39;s regional news in one calm email.",
		`<label for="email">`, `id="email" name="email" type="email"`, `<label for="name">`,
		`<legend>Topics</legend>`, `value="Security"`, `value="Culture"`,
		`<legend>Edition</legend>`, `value="weekly"`, `value="daily"`, "Every morning at 7",
		`name="website"`, `tabindex="-1"`, // honeypot
		"I want to receive this newsletter by email.", // consent text, as recorded
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`action="./subscribe"`, `href="./style.css"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("subscribe page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "<script") {
		t.Error("the subscribe page must work without JavaScript and carries none")
	}
	css := e.get("/style.css")
	if css.code != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") || !strings.Contains(css.body, ":focus-visible") {
		t.Fatalf("GET /style.css: %d %s", css.code, css.header.Get("Content-Type"))
	}
	if r := e.get("/nope"); r.code != http.StatusNotFound {
		t.Errorf("GET /nope: %d", r.code)
	}
}

func TestSubscribeAndConfirm(t *testing.T) {
	e := newWebEnv(t)
	form := url.Values{
		"email":   {"Reader@Example.ORG"},
		"name":    {`<script>alert("x")</script> Mallory`},
		"topics":  {"Security", "Culture", "Not a topic"},
		"edition": {"daily"},
	}
	r := e.post("/subscribe", form, "User-Agent", "test-agent/1.0")
	if r.code != http.StatusOK || !strings.Contains(r.body, "Check your inbox") {
		t.Fatalf("POST /subscribe: %d\n%s", r.code, r.body)
	}
	sub := e.subscriber("Reader@example.org")
	if sub.Status != store.StatusPending || sub.Edition != "daily" || !slices.Equal(sub.Topics, []string{"Security", "Culture"}) {
		t.Fatalf("stored %+v", sub)
	}
	evs, err := e.db.ConsentEvents(context.Background(), sub.ID)
	if err != nil || len(evs) != 1 {
		t.Fatalf("consent events %+v, %v", evs, err)
	}
	ev := evs[0]
	if ev.Kind != store.ConsentSubscribe || ev.IP != "127.0.0.1" || ev.UserAgent != "test-agent/1.0" ||
		ev.Form != FormWeb || ev.Text != e.svc.srv.ConsentText || !ev.At.Equal(e.clock.Now()) {
		t.Fatalf("consent event %+v", ev)
	}

	if n := e.smtp.Len(); n != 0 {
		t.Fatalf("the handler sent %d mails itself; mail goes through the outbox", n)
	}
	e.flush()
	msgs := e.smtp.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "Reader@example.org" {
		t.Fatalf("confirmation mail: %+v", msgs)
	}
	// The name is in To: (cleaned, encoded by the mailer), never in the body.
	to, err := (&mail.AddressParser{WordDecoder: new(mime.WordDecoder)}).Parse(msgs[0].Header.Get("To"))
	if err != nil || to.Name != `<script>alert("x")</script> Mallory` || to.Address != "Reader@example.org" {
		t.Errorf("To: %q (%v)", msgs[0].Header.Get("To"), err)
	}
	text := bodies(t, msgs[0].Data)
	for _, bad := range []string{"<script", "&lt;script", "Mallory", "alert("} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(bad)) {
			t.Errorf("confirmation email body carries the visitor's name (%q):\n%s", bad, text)
		}
	}
	if !sub.ConfirmSentAt.Equal(e.clock.Now()) {
		t.Errorf("confirm_sent_at %v", sub.ConfirmSentAt)
	}
	tok := confirmToken(t, msgs[0].Data)

	e.clock.Add(47 * time.Hour) // confirm_ttl is 48h
	// Mail scanners open every link: GET and HEAD show the button and
	// change nothing, however often.
	for range 3 {
		r = e.get("/confirm?token=" + tok)
		if r.code != http.StatusOK || strings.Count(r.body, "<button") != 1 || !strings.Contains(r.body, "<button type=\"submit\">Confirm</button>") ||
			!strings.Contains(r.body, `<form method="post" action="./confirm">`) || !strings.Contains(r.body, `name="token" value="`+tok+`"`) ||
			!strings.Contains(r.body, "The Region Brief") || strings.Contains(r.body, "<script") {
			t.Fatalf("GET /confirm: %d\n%s", r.code, r.body)
		}
	}
	if s := e.subscriber("Reader@example.org"); s.Status != store.StatusPending || len(e.consentKinds(s.ID)) != 1 {
		t.Fatalf("GET /confirm changed state: %+v", s)
	}
	r = e.confirmForm(tok)
	if r.code != http.StatusOK || !strings.Contains(r.body, "You&#39;re subscribed") || !strings.Contains(r.body, "./preferences?token=") ||
		!strings.Contains(r.body, "The next issue of The Region Brief will reach your inbox.") {
		t.Fatalf("POST /confirm: %d\n%s", r.code, r.body)
	}
	sub = e.subscriber("Reader@example.org")
	if sub.Status != store.StatusConfirmed || !sub.Confirmed.Equal(e.clock.Now()) {
		t.Fatalf("after confirm: %+v", sub)
	}
	if got := e.consentKinds(sub.ID); !slices.Equal(got, []string{store.ConsentSubscribe, store.ConsentConfirm}) {
		t.Fatalf("consent kinds %v", got)
	}
	// A second click is harmless and records nothing new; the page now
	// says so without a button.
	if r := e.confirmForm(tok); r.code != http.StatusOK {
		t.Fatalf("second confirm: %d", r.code)
	}
	if r := e.get("/confirm?token=" + tok); r.code != http.StatusOK || strings.Contains(r.body, "<button") {
		t.Fatalf("confirm page after confirming: %d\n%s", r.code, r.body)
	}
	if got := e.consentKinds(sub.ID); len(got) != 2 {
		t.Fatalf("second confirm added consent rows: %v", got)
	}
}

func TestSubscribeBadAddresses(t *testing.T) {
	e := newWebEnv(t, func(o *ServiceOptions) { o.Server.RatePerIP = 100 })
	tests := []struct {
		name, body, reason string
	}{
		{"empty", "email=", "The address is empty."},
		{"no at", "email=not-an-address", "The address is not a valid email address."},
		{"no domain dot", "email=bob%40localhost", "The domain must be a full domain name"},
		{"CRLF injection", "email=bob%40example.org%0D%0ABcc%3A+victim%40example.org", "The address contains a line break."},
		{"LF only", "email=bob%40example.org%0Abcc%3Ax%40y.org", "line break"},
		{"display name", "email=Bob+%3Cbob%40example.org%3E", "bare address"},
		{"too long", "email=" + strings.Repeat("a", 250) + "%40example.org", "longer than"},
		{"ip literal", "email=bob%40%5B127.0.0.1%5D", "IP address"},
		{"missing field", "name=Ann", "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.postRaw("/subscribe", "application/x-www-form-urlencoded", tt.body)
			if r.code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", r.code)
			}
			if !strings.Contains(r.body, tt.reason) || !strings.Contains(r.body, `role="alert"`) || !strings.Contains(r.body, `aria-invalid="true"`) {
				t.Fatalf("page does not show the reason %q accessibly:\n%s", tt.reason, r.body)
			}
			if strings.Contains(r.body, "\r\nBcc") {
				t.Fatal("raw CR/LF echoed")
			}
		})
	}
	if n := e.count(); n != 0 {
		t.Fatalf("%d subscribers stored from bad addresses", n)
	}
	if n := e.smtp.Len(); n != 0 {
		t.Fatalf("%d mails sent to bad addresses", n)
	}
}

func TestHoneypot(t *testing.T) {
	e := newWebEnv(t)
	real := e.post("/subscribe", subscribeForm("human@example.org"))
	form := subscribeForm("bot@example.org")
	form.Set("website", "http://spam.example")
	bot := e.post("/subscribe", form)
	if bot.code != http.StatusOK || bot.body != real.body {
		t.Fatalf("honeypot answer differs: %d\n%s\nvs\n%s", bot.code, bot.body, real.body)
	}
	if _, err := e.db.SubscriberByEmail(context.Background(), "bot@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bot stored: %v", err)
	}
	e.flush()
	if n := e.smtp.Len(); n != 1 {
		t.Fatalf("%d mails, want only the human's", n)
	}
}

func TestSameAnswerForKnownAddresses(t *testing.T) {
	e := newWebEnv(t)
	e.post("/subscribe", subscribeForm("pending@example.org"))
	e.flush()
	e.confirmed("confirmed@example.org", "Economy")
	e.clock.Add(5 * time.Hour) // past confirm_every and the IP window
	mailsBefore := e.smtp.Len()

	var bodies []string
	for _, addr := range []string{"new@example.org", "pending@example.org", "confirmed@example.org"} {
		r := e.post("/subscribe", subscribeForm(addr, "Security"))
		if r.code != http.StatusOK {
			t.Fatalf("%s: %d", addr, r.code)
		}
		bodies = append(bodies, r.body)
	}
	e.flush()
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("answers differ:\nnew: %s\npending: %s\nconfirmed: %s", bodies[0], bodies[1], bodies[2])
	}
	// new and pending get a confirmation; the confirmed reader gets nothing
	// and keeps the topics they chose (a stranger cannot change them).
	var to []string
	for _, m := range e.smtp.Messages()[mailsBefore:] {
		to = append(to, m.To...)
	}
	slices.Sort(to)
	if !slices.Equal(to, []string{"new@example.org", "pending@example.org"}) {
		t.Fatalf("mails went to %v", to)
	}
	if c := e.subscriber("confirmed@example.org"); c.Status != store.StatusConfirmed || !slices.Equal(c.Topics, []string{"Economy"}) {
		t.Fatalf("confirmed subscriber changed: %+v", c)
	}
}

func TestThrottlePerAddress(t *testing.T) {
	e := newWebEnv(t)
	form := subscribeForm("twice@example.org")
	first := e.post("/subscribe", form)
	if first.code != http.StatusOK {
		t.Fatalf("first: %d", first.code)
	}
	// A repeat within confirm_every answers exactly like the first (no 429
	// for an address, which would tell it is known): only the mail is held.
	again := e.post("/subscribe", form)
	if again.code != http.StatusOK || again.body != first.body {
		t.Fatalf("second within confirm_every: %d\n%s", again.code, again.body)
	}
	e.flush()
	if n := e.smtp.Len(); n != 1 {
		t.Fatalf("%d confirmation mails, want 1", n)
	}
	known := e.confirmed("known@example.org")
	if r := e.post("/subscribe", subscribeForm("known@example.org")); r.code != http.StatusOK || r.body != first.body {
		t.Fatalf("confirmed address, second ask: %d", r.code)
	}
	e.flush()
	if n := e.smtp.Count("known@example.org"); n != 1 {
		t.Fatalf("a confirmed address got %d mails, want only its confirmation", n)
	}
	if got := e.consentKinds(known.ID); !slices.Equal(got, []string{store.ConsentSubscribe, store.ConsentConfirm}) {
		t.Fatalf("a stranger's request for a confirmed address was recorded: %v", got)
	}

	t.Run("after a restart the store still prevents a second mail", func(t *testing.T) {
		svc2, err := NewService(ServiceOptions{
			Store: e.db, Links: e.svc.links, Renderer: e.svc.renderer, Outbox: e.outbox,
			Newsletter: e.svc.nl, Server: e.svc.srv, Editions: e.svc.editions, Topics: e.svc.roster.topics, Now: e.clock.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		before := e.smtp.Len()
		if err := svc2.Subscribe(context.Background(), SubscribeRequest{Email: "twice@example.org", Form: FormEmail}); err != nil {
			t.Fatal(err)
		}
		e.flush()
		if e.smtp.Len() != before {
			t.Fatal("second mail within confirm_every after restart")
		}
	})

	e.clock.Add(e.svc.srv.ConfirmEvery + time.Second)
	if r := e.post("/subscribe", form); r.code != http.StatusOK {
		t.Fatalf("after confirm_every: %d", r.code)
	}
	e.flush()
	if n := e.smtp.Count("twice@example.org"); n != 2 {
		t.Fatalf("%d mails to the address after confirm_every, want 2", n)
	}
}

func TestThrottlePerIP(t *testing.T) {
	t.Run("burst of 60 from one client", func(t *testing.T) {
		e := newWebEnv(t) // defaults: 10 per minute
		var codes []int
		for i := range 60 {
			form := url.Values{"email": {"burst" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.org"}}
			codes = append(codes, e.post("/subscribe", form).code)
		}
		first429 := slices.Index(codes, http.StatusTooManyRequests)
		if first429 != 10 {
			t.Fatalf("first 429 at post %d, want 10 (rate_per_ip); codes %v", first429, codes)
		}
		if slices.ContainsFunc(codes[:10], func(c int) bool { return c != http.StatusOK }) {
			t.Fatalf("codes %v", codes)
		}
		e.flush()
		if n := e.smtp.Len(); n != 10 {
			t.Fatalf("%d mails sent, want 10", n)
		}
		e.clock.Add(time.Minute)
		if r := e.post("/subscribe", url.Values{"email": {"later@example.org"}}); r.code != http.StatusOK {
			t.Fatalf("after the window: %d", r.code)
		}
	})
	t.Run("X-Forwarded-For only with trust_proxy", func(t *testing.T) {
		for _, trust := range []bool{false, true} {
			e := newWebEnv(t, func(o *ServiceOptions) { o.Server.RatePerIP = 1; o.Server.TrustProxy = trust })
			a := e.post("/subscribe", url.Values{"email": {"a@example.org"}}, "X-Forwarded-For", "203.0.113.7")
			b := e.post("/subscribe", url.Values{"email": {"b@example.org"}}, "X-Forwarded-For", "203.0.113.8")
			if a.code != http.StatusOK {
				t.Fatalf("trust=%v: first %d", trust, a.code)
			}
			want := http.StatusTooManyRequests
			if trust {
				want = http.StatusOK
			}
			if b.code != want {
				t.Fatalf("trust=%v: second client %d, want %d", trust, b.code, want)
			}
			evs, _ := e.db.ConsentEvents(context.Background(), e.subscriber("a@example.org").ID)
			wantIP := "127.0.0.1"
			if trust {
				wantIP = "203.0.113.7"
			}
			if len(evs) != 1 || evs[0].IP != wantIP {
				t.Fatalf("trust=%v: consent %+v", trust, evs)
			}
		}
	})
}

func TestResubscribeAfterUnsubscribe(t *testing.T) {
	e := newWebEnv(t)
	sub := e.confirmed("back@example.org")
	oldConfirm := confirmToken(t, e.smtp.Messages()[0].Data)
	e.clock.Add(time.Hour)
	if err := e.svc.Unsubscribe(context.Background(), sub.ID, "", "", FormWeb); err != nil {
		t.Fatal(err)
	}
	// The old confirm link (still within 48h) must not resubscribe.
	if r := e.get("/confirm?token=" + oldConfirm); r.code != http.StatusBadRequest {
		t.Fatalf("old confirm link after unsubscribe: %d", r.code)
	}
	if r := e.confirmForm(oldConfirm); r.code != http.StatusBadRequest {
		t.Fatalf("old confirm link after unsubscribe, POST: %d", r.code)
	}
	if s := e.subscriber("back@example.org"); s.Status != store.StatusUnsubscribed {
		t.Fatalf("status %s", s.Status)
	}
	e.clock.Add(5 * time.Hour)
	if r := e.post("/subscribe", subscribeForm("back@example.org", "Culture")); r.code != http.StatusOK {
		t.Fatalf("resubscribe: %d", r.code)
	}
	e.flush()
	msgs := e.smtp.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d mails", len(msgs))
	}
	if r := e.confirmForm(confirmToken(t, msgs[1].Data)); r.code != http.StatusOK {
		t.Fatalf("new confirm link: %d %s", r.code, r.body)
	}
	s := e.subscriber("back@example.org")
	if s.Status != store.StatusConfirmed || !slices.Equal(s.Topics, []string{"Culture"}) {
		t.Fatalf("after resubscribe: %+v", s)
	}
}

func TestExpirePending(t *testing.T) {
	e := newWebEnv(t)
	e.post("/subscribe", subscribeForm("late@example.org"))
	e.flush()
	tok := confirmToken(t, e.smtp.Messages()[0].Data)
	e.confirmed("early@example.org")
	e.clock.Add(6 * 24 * time.Hour)
	if n, err := e.svc.ExpirePending(context.Background()); err != nil || n != 0 {
		t.Fatalf("after 6 days: %d, %v", n, err)
	}
	e.clock.Add(25 * time.Hour)
	if n, err := e.svc.ExpirePending(context.Background()); err != nil || n != 1 {
		t.Fatalf("after 7 days: %d, %v", n, err)
	}
	if _, err := e.db.SubscriberByEmail(context.Background(), "late@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pending subscriber kept: %v", err)
	}
	if e.subscriber("early@example.org").Status != store.StatusConfirmed {
		t.Fatal("confirmed subscriber touched")
	}
	if r := e.get("/confirm?token=" + tok); r.code < 400 || r.code > 499 {
		t.Fatalf("confirm of an expired pending subscriber: %d", r.code)
	}
	if r := e.confirmForm(tok); r.code < 400 || r.code > 499 {
		t.Fatalf("confirm POST of an expired pending subscriber: %d", r.code)
	}
}

func TestSubscribeService(t *testing.T) {
	e := newWebEnv(t)
	ctx := context.Background()
	err := e.svc.Subscribe(ctx, SubscribeRequest{Email: "x\r\n@example.org", Form: FormEmail})
	var ae *AddressError
	if !errors.As(err, &ae) {
		t.Fatalf("bad address: %v", err)
	}
	if err := e.svc.Subscribe(ctx, SubscribeRequest{Email: "mail@example.org", Edition: "nope", Form: FormEmail}); err != nil {
		t.Fatal(err)
	}
	s := e.subscriber("mail@example.org")
	if s.Edition != "" || s.Topics != nil {
		t.Fatalf("unknown edition should mean the default and no topics all: %+v", s)
	}
	if err := e.svc.Subscribe(ctx, SubscribeRequest{Email: "MAIL@example.org", Form: FormEmail}); err != nil {
		t.Fatalf("same address in other case: %v", err)
	}
	if ms, _ := e.db.OutboxMails(ctx, "confirm"); len(ms) != 1 {
		t.Fatalf("%d confirmations queued for one address asked twice, want 1", len(ms))
	}
	if _, err := NewService(ServiceOptions{Store: e.db, Links: e.svc.links, Renderer: e.svc.renderer,
		Newsletter: e.svc.nl, Server: func() (s config.Server) { s = e.svc.srv; s.UnsubscribeTTL = 30 * 24 * time.Hour; return }()}); err == nil {
		t.Fatal("an unsubscribe_ttl under 60 days was accepted")
	}
}

// TestSubscribeAnswerFloor: a new address costs the store more work than a
// known one, so every sign-up answer waits out the floor; none comes sooner,
// whoever the address belongs to (or a bot that filled the honeypot).
func TestSubscribeAnswerFloor(t *testing.T) {
	const floor = 40 * time.Millisecond
	e := newWebEnv(t, func(o *ServiceOptions) { o.AnswerFloor = floor })
	if _, _, err := e.db.AddSubscriber(context.Background(), store.Subscriber{Email: "known@example.org", Status: store.StatusConfirmed}); err != nil {
		t.Fatal(err)
	}
	bot := subscribeForm("bot@example.org")
	bot.Set(honeypotField, "http://spam.example")
	for name, form := range map[string]url.Values{
		"new":      subscribeForm("new@example.org"),
		"known":    subscribeForm("known@example.org"),
		"honeypot": bot,
	} {
		start := time.Now()
		r := e.post("/subscribe", form)
		took := time.Since(start)
		if r.code != http.StatusOK {
			t.Fatalf("%s: status %d", name, r.code)
		}
		if took < floor {
			t.Errorf("%s address answered after %v, before the %v floor", name, took, floor)
		}
	}
}
