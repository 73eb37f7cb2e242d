package subscribers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/outbox"
)

// useSMTP points the env's outbox at another SMTP server address.
func (e *webEnv) useSMTP(host string, port int) {
	e.t.Helper()
	m, err := mailer.New(mailer.Options{Host: host, Port: port, TLS: "none", Concurrency: 1, Timeout: 5 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := outbox.New(outbox.Options{Store: e.db, Sender: m, Holder: "test", Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.outbox = w
	e.svc.outbox = w
}

// TestSubscribeDoesNotWaitOnSMTP: the handler answers before the SMTP
// server has even been offered the message; the worker sends it after.
// Known and unknown addresses answer alike while the server hangs.
func TestSubscribeDoesNotWaitOnSMTP(t *testing.T) {
	e := newWebEnv(t)
	e.post("/subscribe", subscribeForm("pending@example.org"))
	e.flush()
	e.confirmed("confirmed@example.org")
	e.clock.Add(5 * time.Hour) // past confirm_every

	gate := make(chan struct{})
	held := smtptest.Start(t, smtptest.WithMailHook(func(string, int) error {
		<-gate // the server sits on MAIL FROM until the test lets it go
		return nil
	}))
	e.useSMTP(held.Host, held.Port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.outbox.Run(ctx)
	defer close(gate)

	var bodies []string
	for _, addr := range []string{"new@example.org", "pending@example.org", "confirmed@example.org"} {
		r := e.post("/subscribe", subscribeForm(addr))
		if r.code != http.StatusOK {
			t.Fatalf("%s: %d", addr, r.code)
		}
		bodies = append(bodies, r.body)
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("answers differ:\n%v", bodies)
	}
	if n := held.Len(); n != 0 {
		t.Fatalf("the server accepted %d messages before the handlers returned", n)
	}
	gate <- struct{}{} // let the first MAIL FROM through
	gate <- struct{}{}
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := held.WaitFor(wctx, 2); err != nil {
		t.Fatal(err)
	}
	if held.Count("new@example.org") != 1 || held.Count("pending@example.org") != 1 || held.Count("confirmed@example.org") != 0 {
		t.Fatalf("mails: %+v", held.Messages())
	}
}

// TestSMTPDownSameAnswer: with the relay down, every address gets the same
// 200; the confirmations wait in the outbox and arrive, once each, when
// the relay is back.
func TestSMTPDownSameAnswer(t *testing.T) {
	e := newWebEnv(t)
	e.confirmed("confirmed@example.org")
	e.clock.Add(5 * time.Hour)

	down := smtptest.Start(t)
	addr := down.Addr
	down.Close()
	e.useSMTP(down.Host, down.Port)

	var bodies []string
	for _, a := range []string{"new@example.org", "confirmed@example.org"} {
		r := e.post("/subscribe", subscribeForm(a))
		if r.code != http.StatusOK {
			t.Fatalf("%s with SMTP down: %d", a, r.code)
		}
		bodies = append(bodies, r.body)
	}
	if bodies[0] != bodies[1] {
		t.Fatalf("answers differ with SMTP down:\n%v", bodies)
	}
	if st := e.flush(); st.Retrying != 1 || st.Sent != 0 {
		t.Fatalf("flush with SMTP down: %+v", st)
	}

	up, err := smtptest.Listen(addr)
	if err != nil {
		t.Fatalf("restart the SMTP server on %s: %v", addr, err)
	}
	defer up.Close()
	if st := e.flush(); st.Sent != 0 {
		t.Fatalf("sent %d before the backoff passed", st.Sent)
	}
	e.clock.Add(outbox.DefaultRetryBase)
	if st := e.flush(); st.Sent != 1 {
		t.Fatalf("after the relay came back: %+v", st)
	}
	e.clock.Add(time.Hour)
	e.flush()
	if up.Len() != 1 || up.Count("new@example.org") != 1 {
		t.Fatalf("relay got %d messages: %+v", up.Len(), up.Messages())
	}
	tok := confirmToken(t, up.Messages()[0].Data)
	if r := e.confirmForm(tok); r.code != http.StatusOK {
		t.Fatalf("the late link does not confirm: %d", r.code)
	}
}

// TestOutboxSurvivesRestart: the process dies after recording the
// confirmation (and once more after claiming it, before sending); a new
// process on the same store file sends it, exactly once.
func TestOutboxSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	e := newWebEnv(t)
	path := filepath.Join(t.TempDir(), "restart.db")
	db1, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	svc1, err := NewService(ServiceOptions{Store: db1, Links: e.svc.links, Renderer: e.svc.renderer,
		Newsletter: e.svc.nl, Server: e.svc.srv, Editions: e.svc.editions, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc1.Subscribe(ctx, SubscribeRequest{Email: "a@example.org", Form: FormWeb}); err != nil {
		t.Fatal(err)
	}
	if err := svc1.Subscribe(ctx, SubscribeRequest{Email: "b@example.org", Form: FormWeb}); err != nil {
		t.Fatal(err)
	}
	// A worker claims b's mail and dies before sending it.
	now := e.clock.Now()
	claimed, err := db1.ClaimOutbox(ctx, store.Claim{Holder: "dead", Now: now, Until: now.Add(outbox.DefaultClaimFor), Limit: 1})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	db1.Close() // the kill: nothing in memory survives

	db2, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	m, _ := mailer.New(mailer.Options{Host: e.smtp.Host, Port: e.smtp.Port, TLS: "none", Concurrency: 1, Timeout: 5 * time.Second})
	w, err := outbox.New(outbox.Options{Store: db2, Sender: m, Holder: "new", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := w.Flush(ctx); err != nil || st.Sent != 1 {
		t.Fatalf("after the restart: %+v %v (the unclaimed mail goes at once)", st, err)
	}
	e.clock.Add(outbox.DefaultClaimFor)
	if st, err := w.Flush(ctx); err != nil || st.Sent != 1 {
		t.Fatalf("after the dead claim expired: %+v %v", st, err)
	}
	e.clock.Add(time.Hour)
	if st, _ := w.Flush(ctx); st.Sent != 0 {
		t.Fatalf("sent again: %+v", st)
	}
	if e.smtp.Count("a@example.org") != 1 || e.smtp.Count("b@example.org") != 1 {
		t.Fatalf("mails: %+v", e.smtp.Messages())
	}
}

// TestFloodThenNewReader: thousands of sign-ups with distinct addresses
// from distinct clients (IPv4 and IPv6) mail at most the confirmation
// budget to third parties, and a real reader who comes after gets their
// confirmation within minutes. (The throttle's bounds under such a flood
// are TestThrottleRefusedBounded and TestThrottlePrunes.)
func TestFloodThenNewReader(t *testing.T) {
	flood := 3000
	if testing.Short() {
		flood = 600
	}
	e := newWebEnv(t, func(o *ServiceOptions) { o.Server.TrustProxy = true })
	for i := range flood {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if i%2 == 1 {
			ip = fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff)
		}
		r := e.post("/subscribe", url.Values{"email": {fmt.Sprintf("victim%05d@example.net", i)}}, "X-Forwarded-For", ip)
		if r.code != http.StatusOK {
			t.Fatalf("sign-up %d from %s: %d", i, ip, r.code)
		}
		if i%100 == 0 {
			e.flush() // the worker runs meanwhile
		}
	}
	e.flush()
	burst := outbox.DefaultConfirmationsPerHour / 10
	if n := e.smtp.Len(); n > burst {
		t.Fatalf("the flood mailed %d strangers, over the budget's burst of %d", n, burst)
	}

	// The flood is over. A reader from a client never seen before.
	r := e.post("/subscribe", subscribeForm("reader@example.org"), "X-Forwarded-For", "198.51.100.9")
	if r.code != http.StatusOK {
		t.Fatalf("new reader after the flood: %d", r.code)
	}
	for minutes := 0; minutes < 5 && e.smtp.Count("reader@example.org") == 0; minutes++ {
		e.clock.Add(time.Minute)
		e.flush()
	}
	if e.smtp.Count("reader@example.org") != 1 {
		t.Fatalf("the new reader's confirmation did not go out within 5 minutes (%d mails in all)", e.smtp.Len())
	}
}

// TestLinksDieWithTheirSubscriber: remove a subscriber, add another; the
// old unsubscribe and preferences links act on nobody, and the new
// subscriber never gets the old id.
func TestLinksDieWithTheirSubscriber(t *testing.T) {
	ctx := context.Background()
	e := newWebEnv(t)
	old := e.confirmed("old@example.org")
	unsub, prefs := e.sign(links.PurposeUnsubscribe, old), e.sign(links.PurposePreferences, old)
	if err := e.svc.Roster().Remove(ctx, "old@example.org"); err != nil {
		t.Fatal(err)
	}
	newer, _, err := e.svc.Roster().Add(ctx, AddRequest{Email: "new@example.org", Topics: []string{"Economy"}})
	if err != nil {
		t.Fatal(err)
	}
	if newer.ID <= old.ID {
		t.Fatalf("the new subscriber got id %d, the removed one had %d", newer.ID, old.ID)
	}
	// Even a row that ended up with the old id (a restored backup) would
	// not answer to the old links: they are signed with the old stamp.
	if newer.Stamp == old.Stamp {
		t.Fatal("two subscribers share a stamp")
	}
	for _, r := range []webResponse{
		e.get("/unsubscribe?token=" + unsub),
		e.postRaw("/unsubscribe?token="+unsub, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"),
		e.get("/preferences?token=" + prefs),
		e.post("/preferences", url.Values{"token": {prefs}, "topics": {"Security"}}),
	} {
		if r.code != http.StatusBadRequest {
			t.Fatalf("an old link answered %d, want 400", r.code)
		}
	}
	if s := e.subscriber("new@example.org"); s.Status != store.StatusConfirmed || len(s.Topics) != 1 || s.Topics[0] != "Economy" {
		t.Fatalf("the new subscriber was changed by old links: %+v", s)
	}
}
