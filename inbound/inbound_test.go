package inbound

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/outbox"
)

var reConfirm = regexp.MustCompile(`/confirm\?token=([a-z2-7]+)`)

func TestSubscribeByEmailDoubleOptIn(t *testing.T) {
	e := newEnv(t, nil)
	e.imap.deliver(t, mailFrom("New Reader <new.reader@example.com>", listAddr, "subscribe", "Please add me."))

	st := e.poll(t)
	if st.Seen != 1 || st.Subscribed != 1 {
		t.Fatalf("stats = %+v, want one message, one subscribe", st)
	}
	sub, ok := e.subscriberByEmail(t, "new.reader@example.com")
	if !ok || sub.Status != store.StatusPending {
		t.Fatalf("after the email: %+v (found %v), want pending", sub, ok)
	}
	// The only mail sent is the confirmation, to the From address.
	msgs := e.smtp.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "new.reader@example.com" {
		t.Fatalf("sent %d messages (%+v), want one confirmation to the sender", len(msgs), msgs)
	}
	m := reConfirm.FindStringSubmatch(text(t, msgs[0]))
	if m == nil {
		t.Fatalf("no confirm link in %q", text(t, msgs[0]))
	}
	got, err := e.svc.Confirm(context.Background(), m[1], "", "")
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if got.Status != store.StatusConfirmed || e.subscriber(t, sub.ID).Status != store.StatusConfirmed {
		t.Fatalf("after following the link: %+v, want confirmed", got)
	}

	// The message left the inbox for the done mailbox, which was created.
	if total, _ := e.imap.count(t, "INBOX"); total != 0 {
		t.Errorf("INBOX holds %d messages, want 0", total)
	}
	if total, _ := e.imap.count(t, doneBox); total != 1 {
		t.Errorf("%s holds %d messages, want 1", doneBox, total)
	}
	if st := e.poll(t); st.Seen != 0 {
		t.Errorf("second pass saw %+v, want nothing", st)
	}
}

func TestSubscribeFirstLineAndThrottle(t *testing.T) {
	e := newEnv(t, nil)
	e.imap.deliver(t, mailFrom("a@example.com", listAddr, "", "subscribe\n\nthanks"))
	e.imap.deliver(t, mailFrom("a@example.com", listAddr, "Re: subscribe", "again"))
	st := e.poll(t)
	// The second asks within confirm_every: the shared Service holds the
	// mail back silently (the same answer as the first), no second
	// confirmation.
	if st.Seen != 2 || st.Subscribed != 2 {
		t.Fatalf("stats = %+v, want 2 seen, 2 subscribed", st)
	}
	if n := e.smtp.Len(); n != 1 {
		t.Fatalf("sent %d messages, want 1 confirmation", n)
	}
}

func TestUnsubscribeByEmail(t *testing.T) {
	e := newEnv(t, nil)
	sub := e.addSubscriber(t, "reader@example.com")
	other := e.addSubscriber(t, "other@example.com")
	e.imap.deliver(t, mailFrom("Reader <Reader@EXAMPLE.com>", listAddr, "Re: The Region Brief: week 28", "Unsubscribe me please\n\n> quoted issue"))
	e.imap.deliver(t, mailFrom("stranger@example.net", listAddr, "unsubscribe", ""))

	st := e.poll(t)
	if st.Unsubscribed != 1 || st.Ignored != 1 {
		t.Fatalf("stats = %+v, want 1 unsubscribed, 1 ignored (unknown address)", st)
	}
	if s := e.subscriber(t, sub.ID); s.Status != store.StatusUnsubscribed {
		t.Errorf("subscriber status = %q, want unsubscribed", s.Status)
	}
	if s := e.subscriber(t, other.ID); s.Status != store.StatusConfirmed {
		t.Errorf("bystander status = %q, want confirmed", s.Status)
	}
	if n := e.smtp.Len(); n != 0 {
		t.Errorf("sent %d messages, want none", n)
	}
}

func TestUnsubscribeByTokenisedMailto(t *testing.T) {
	e := newEnv(t, nil)
	sub := e.addSubscriber(t, "reader@example.com")
	bystander := e.addSubscriber(t, "bystander@example.com")

	uri := UnsubscribeMailto(listAddr, e.tokens, links.Subject{ID: sub.ID, Stamp: sub.Stamp})
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "mailto" || u.Query().Get("subject") != "unsubscribe" {
		t.Fatalf("UnsubscribeMailto = %q (%v)", uri, err)
	}
	to := u.Opaque
	if !strings.HasPrefix(to, "list+unsubscribe-") || !strings.HasSuffix(to, "@example.org") {
		t.Fatalf("mailto address = %q", to)
	}
	if local, _, _ := strings.Cut(to, "@"); len(local) > 64 {
		t.Errorf("local part is %d characters, over the 64 of RFC 5321", len(local))
	}
	// A forged token for the bystander must do nothing.
	forged := "list+unsubscribe-" + strings.Repeat("a", 40) + "@example.org"
	e.imap.deliver(t, mailFrom("someone.else@example.net", forged, "unsubscribe", ""))
	// Sent from another address than the subscriber's: the token decides.
	e.imap.deliver(t, mailFrom("alias@example.net", to, "unsubscribe", ""))

	st := e.poll(t)
	if st.Unsubscribed != 1 || st.Ignored != 1 {
		t.Fatalf("stats = %+v, want 1 unsubscribed, 1 ignored", st)
	}
	if s := e.subscriber(t, sub.ID); s.Status != store.StatusUnsubscribed {
		t.Errorf("subscriber status = %q, want unsubscribed", s.Status)
	}
	if s := e.subscriber(t, bystander.ID); s.Status != store.StatusConfirmed {
		t.Errorf("bystander status = %q, want confirmed", s.Status)
	}
	if n := e.smtp.Len(); n != 0 {
		t.Errorf("sent %d messages, want none", n)
	}
}

func TestHelpReply(t *testing.T) {
	e := newEnv(t, nil)
	e.imap.deliver(t, mailFrom("Curious <curious@example.com>", listAddr, "help", "what can I do?"))
	st := e.poll(t)
	if st.Replied != 1 {
		t.Fatalf("stats = %+v, want one reply", st)
	}
	msgs := e.smtp.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "curious@example.com" {
		t.Fatalf("sent %+v, want one reply to curious@example.com", msgs)
	}
	h := msgs[0].Header
	if h.Get("Auto-Submitted") != "auto-replied" || h.Get("In-Reply-To") == "" {
		t.Errorf("reply headers: Auto-Submitted %q, In-Reply-To %q", h.Get("Auto-Submitted"), h.Get("In-Reply-To"))
	}
	body := text(t, msgs[0])
	for _, want := range []string{"help (found in the subject)", "subscribe", "unsubscribe", listAddr} {
		if !strings.Contains(body, want) {
			t.Errorf("reply lacks %q:\n%s", want, body)
		}
	}
	// Our own reply, should it come back to the mailbox, is not answered.
	e.imap.deliver(t, string(msgs[0].Data))
	if st := e.poll(t); st.Ignored != 1 || e.smtp.Len() != 1 {
		t.Errorf("our own reply: stats %+v, %d sent; want ignored, nothing more sent", st, e.smtp.Len())
	}
}

func TestAutomaticMessagesIgnored(t *testing.T) {
	tests := []struct {
		name, from, subject string
		extra               []string
	}{
		{"out of office subject", "reader@example.com", "Out of Office: unsubscribe", nil},
		{"auto-submitted", "reader@example.com", "help", []string{"Auto-Submitted: auto-replied"}},
		{"x-autoreply", "reader@example.com", "unsubscribe", []string{"X-Autoreply: yes"}},
		{"precedence bulk", "reader@example.com", "help", []string{"Precedence: bulk"}},
		{"precedence auto_reply", "reader@example.com", "unsubscribe", []string{"Precedence: auto_reply"}},
		{"exchange suppress", "reader@example.com", "Automatic reply: help", []string{"X-Auto-Response-Suppress: All"}},
		{"mailer-daemon", "MAILER-DAEMON@mx.example.com", "help", nil},
		{"postmaster", "postmaster@example.com", "help", nil},
		{"noreply", "no-reply@service.example.com", "help", nil},
		{"ourselves", listAddr, "help", nil},
		{"null return path", "reader@example.com", "help", []string{"Return-Path: <>"}},
		{"x-loop", "reader@example.com", "help", []string{"X-Loop: " + listAddr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			sub := e.addSubscriber(t, "reader@example.com")
			e.imap.deliver(t, mailFrom(tt.from, listAddr, tt.subject, "I am away until Monday.", tt.extra...))
			st := e.poll(t)
			if st.Seen != 1 || st.Ignored != 1 {
				t.Fatalf("stats = %+v, want one ignored message", st)
			}
			if n := e.smtp.Len(); n != 0 {
				t.Errorf("sent %d messages, want none", n)
			}
			if s := e.subscriber(t, sub.ID); s.Status != store.StatusConfirmed {
				t.Errorf("subscriber status = %q, want confirmed", s.Status)
			}
			if total, _ := e.imap.count(t, doneBox); total != 1 {
				t.Errorf("%s holds %d, want the ignored message moved there", doneBox, total)
			}
		})
	}
}

func TestOutOfOfficeTestdataIgnored(t *testing.T) {
	e := newEnv(t, nil)
	raw, err := os.ReadFile(filepath.Join("bounce", "testdata", "out-of-office.eml"))
	if err != nil {
		t.Fatal(err)
	}
	e.imap.deliver(t, string(raw))
	if st := e.poll(t); st.Ignored != 1 || e.smtp.Len() != 0 {
		t.Fatalf("stats = %+v, %d sent; want ignored and unanswered", st, e.smtp.Len())
	}
}

// dsn builds a standard delivery report to envelopeTo about rcpt.
func dsn(envelopeTo, rcpt, status, originalID string) string {
	action := "failed"
	return fmt.Sprintf(`Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: %s
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; %s
Action: %s
Status: %s
Diagnostic-Code: smtp; %s%s%s Mailbox problem

--B
Content-Type: text/rfc822-headers

From: The Region Brief <brief@example.org>
To: %s
Subject: The Region Brief
Message-ID: <%s>

--B--
`, envelopeTo, rcpt, action, status, status[:1], "50 ", status, rcpt, originalID)
}

func TestBounces(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	verp := e.addSubscriber(t, "forwarded@example.com")
	byID := e.addSubscriber(t, "byid@example.com")
	soft := e.addSubscriber(t, "soft@example.com")
	qmail := e.addSubscriber(t, "someone@example.net") // the address in bounce/testdata/qmail.eml

	// VERP: the report names another address (the reader forwards), but
	// the return path names the subscriber and issue.
	ret := BounceAddress(listAddr, e.tokens, links.Subject{ID: verp.ID, Stamp: verp.Stamp}, 7)
	if !strings.HasPrefix(ret, "list+bounces-") || !strings.HasSuffix(ret, "@example.org") {
		t.Fatalf("BounceAddress = %q", ret)
	}
	e.imap.deliver(t, dsn(ret, "final@elsewhere.example", "5.1.1", "unrelated@example.net"))
	// By our Message-ID, recipient agreeing.
	e.imap.deliver(t, dsn(listAddr, "byid@example.com", "5.1.1", fmt.Sprintf("issue-7.sub-%d@example.org", byID.ID)))
	// A forged Message-ID whose recipient disagrees: nobody is bounced.
	e.imap.deliver(t, dsn(listAddr, "nobody@example.com", "5.1.1", fmt.Sprintf("issue-7.sub-%d@example.org", soft.ID)))
	// Soft: twice needed (soft_bounce_after = 2 in this env).
	e.imap.deliver(t, dsn(listAddr, "soft@example.com", "4.2.2", fmt.Sprintf("issue-7.sub-%d@example.org", soft.ID)))
	// A non-DSN shape matched by address.
	raw, err := os.ReadFile(filepath.Join("bounce", "testdata", "qmail.eml"))
	if err != nil {
		t.Fatal(err)
	}
	e.imap.deliver(t, string(raw))

	st := e.poll(t)
	if st.Seen != 5 || st.HardBounces != 3 || st.SoftBounces != 1 || st.Ignored != 1 {
		t.Fatalf("stats = %+v, want 5 seen, 3 hard, 1 soft, 1 ignored", st)
	}
	for _, id := range []int64{verp.ID, byID.ID, qmail.ID} {
		if s := e.subscriber(t, id); s.Status != store.StatusBounced {
			t.Errorf("subscriber %s status = %q, want bounced", s.Email, s.Status)
		}
	}
	if s := e.subscriber(t, verp.ID); !strings.Contains(s.LastError, "5.1.1") || !strings.Contains(s.LastError, "issue 7") {
		t.Errorf("last error = %q, want the status and the issue", s.LastError)
	}
	if s := e.subscriber(t, soft.ID); s.Status != store.StatusConfirmed || s.SoftBounces != 1 {
		t.Errorf("after one soft bounce: %q with %d soft bounces, want confirmed with 1", s.Status, s.SoftBounces)
	}
	e.imap.deliver(t, dsn(listAddr, "soft@example.com", "4.2.2", fmt.Sprintf("issue-8.sub-%d@example.org", soft.ID)))
	if st := e.poll(t); st.SoftBounces != 1 {
		t.Fatalf("stats = %+v, want one soft bounce", st)
	}
	if s, _ := e.db.SubscriberByID(ctx, soft.ID); s.Status != store.StatusBounced {
		t.Errorf("after two soft bounces: %q, want bounced", s.Status)
	}
	// Bounces are never answered.
	if n := e.smtp.Len(); n != 0 {
		t.Errorf("sent %d messages, want none", n)
	}
}

func TestDelayWarningNotCounted(t *testing.T) {
	e := newEnv(t, nil)
	sub := e.addSubscriber(t, "waiting@example.com") // the address in exim-delay.eml
	raw, err := os.ReadFile(filepath.Join("bounce", "testdata", "exim-delay.eml"))
	if err != nil {
		t.Fatal(err)
	}
	e.imap.deliver(t, string(raw))
	if st := e.poll(t); st.Ignored != 1 || st.SoftBounces != 0 {
		t.Fatalf("stats = %+v, want the delay warning ignored", st)
	}
	if s := e.subscriber(t, sub.ID); s.SoftBounces != 0 || s.Status != store.StatusConfirmed {
		t.Errorf("subscriber = %+v, want untouched", s)
	}
}

// TestCrashBetweenActAndMove: the pass dies after acting (and recording)
// but before the move; the next pass must move the message without acting
// again.
func TestCrashBetweenActAndMove(t *testing.T) {
	for _, where := range []string{"after act", "before act"} {
		t.Run(where, func(t *testing.T) {
			e := newEnv(t, nil)
			sub := e.addSubscriber(t, "soft@example.com")
			e.imap.deliver(t, dsn(listAddr, "soft@example.com", "4.2.2", fmt.Sprintf("issue-9.sub-%d@example.org", sub.ID)))

			crash := errors.New("simulated crash")
			if where == "after act" {
				e.poller.hookAfterMark = func(string) error { return crash }
			} else {
				e.poller.hookBeforeAct = func(string) error { return crash }
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := e.poller.PollOnce(ctx); !errors.Is(err, crash) {
				t.Fatalf("PollOnce = %v, want the simulated crash", err)
			}
			if total, unseen := e.imap.count(t, "INBOX"); total != 1 || unseen != 1 {
				t.Fatalf("after the crash INBOX has %d (%d unseen), want the message still there unseen", total, unseen)
			}

			// The process restarts: a new poller on the same store.
			p, err := New(e.options)
			if err != nil {
				t.Fatal(err)
			}
			e.poller = p
			st := e.poll(t)
			if st.Seen != 1 {
				t.Fatalf("rerun stats = %+v, want the message seen again", st)
			}
			if s := e.subscriber(t, sub.ID); s.SoftBounces != 1 {
				t.Errorf("soft bounces = %d, want exactly 1", s.SoftBounces)
			}
			if where == "after act" && st.Skipped != 1 {
				t.Errorf("rerun stats = %+v, want the message skipped as already handled", st)
			}
			if total, _ := e.imap.count(t, "INBOX"); total != 0 {
				t.Errorf("INBOX holds %d after the rerun, want 0", total)
			}
			if st := e.poll(t); st.Seen != 0 {
				t.Errorf("third pass = %+v, want nothing left", st)
			}
		})
	}
}

// TestWithoutMove covers servers without MOVE: with UIDPLUS the message is
// copied and expunged; without it, flagged \Seen plus a keyword in place.
func TestWithoutMove(t *testing.T) {
	tests := []struct {
		name              string
		caps              imap.CapSet
		inbox, inboxUnsee int
		done              int
	}{
		{"uidplus", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, 0, 0, 1},
		{"plain imap4rev1", imap.CapSet{imap.CapIMAP4rev1: {}}, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.caps)
			sub := e.addSubscriber(t, "reader@example.com")
			e.imap.deliver(t, mailFrom("reader@example.com", listAddr, "unsubscribe", ""))
			if st := e.poll(t); st.Unsubscribed != 1 {
				t.Fatalf("stats = %+v", st)
			}
			if total, unseen := e.imap.count(t, "INBOX"); total != tt.inbox || unseen != tt.inboxUnsee {
				t.Errorf("INBOX = %d (%d unseen), want %d (%d)", total, unseen, tt.inbox, tt.inboxUnsee)
			}
			if total, _ := e.imap.count(t, doneBox); tt.done > 0 && total != tt.done {
				t.Errorf("%s = %d, want %d", doneBox, total, tt.done)
			}
			if s := e.subscriber(t, sub.ID); s.Status != store.StatusUnsubscribed {
				t.Errorf("status = %q", s.Status)
			}
			if st := e.poll(t); st.Seen != 0 {
				t.Errorf("second pass = %+v, want nothing", st)
			}
		})
	}
}

func TestRunPollsUntilCancelled(t *testing.T) {
	e := newEnv(t, nil)
	e.imap.deliver(t, mailFrom("curious@example.com", listAddr, "help", ""))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.poller.Run(ctx) }()
	// digest run sends the outbox beside the poller.
	go e.outbox.Run(ctx)
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := e.smtp.WaitFor(wctx, 1); err != nil {
		t.Fatalf("no reply sent by Run: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-wctx.Done():
		t.Fatal("Run did not return after cancel")
	}
}

func TestPollOnceErrors(t *testing.T) {
	e := newEnv(t, nil)
	o := e.options
	o.Password = "wrong"
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "login") {
		t.Errorf("wrong password: %v, want a login error", err)
	}
	o = e.options
	o.Config.Mailbox = "Nope"
	p, _ = New(o)
	if _, err := p.PollOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("missing mailbox: %v, want an error naming it", err)
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name string
		mod  func(*Options)
	}{
		{"no store", func(o *Options) { o.Store = nil }},
		{"no host", func(o *Options) { o.Config.IMAPHost = "" }},
		{"no address", func(o *Options) { o.Config.Address = "" }},
		{"bad address", func(o *Options) { o.Config.Address = "not an address" }},
		{"bad tls", func(o *Options) { o.Config.TLS = "maybe" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := e.options
			tt.mod(&o)
			if _, err := New(o); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestAddressesRoundTrip(t *testing.T) {
	tok, err := links.NewSigner([]byte("0123456789abcdef-test-key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name, address string
		sub           links.Subject
		issue         int64
	}{
		{"plain", "list@example.org", links.Subject{ID: 1}, 1},
		{"named", "The Brief <brief@Example.ORG>", links.Subject{ID: 123456789, Stamp: 1<<62 + 77}, 98765},
		{"already tagged", "list+in@example.org", links.Subject{ID: 42, Stamp: 5}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stamps := func(_ context.Context, id int64) (int64, bool, error) { return tt.sub.Stamp, id == tt.sub.ID, nil }
			b := BounceAddress(tt.address, tok, tt.sub, tt.issue)
			a, err := mail.ParseAddress(b)
			if err != nil {
				t.Fatalf("BounceAddress = %q: %v", b, err)
			}
			local, domain, _ := strings.Cut(a.Address, "@")
			if len(local) > 64 || domain != "example.org" || strings.Count(local, "+") != 1 {
				t.Errorf("BounceAddress = %q", b)
			}
			c, ok, err := findToken(ctx, tok, stamps, reBounceTag, links.PurposeBounce, "To: "+strings.ToUpper(b[:1])+b[1:])
			if err != nil || !ok || c.Subscriber != tt.sub.ID || c.Ref != tt.issue {
				t.Errorf("token back = %+v, %v %v", c, ok, err)
			}
			if BounceAddress(tt.address, tok, tt.sub, tt.issue) != b {
				t.Error("BounceAddress is not deterministic: a resumed send would differ")
			}
			m := UnsubscribeMailto(tt.address, tok, tt.sub)
			c, ok, err = findToken(ctx, tok, stamps, reUnsubTag, links.PurposeUnsubscribe, m)
			if err != nil || !ok || c.Subscriber != tt.sub.ID {
				t.Errorf("unsubscribe token back from %q = %+v, %v %v", m, c, ok, err)
			}
			// A bounce token must not unsubscribe and the reverse.
			if _, ok, _ := findToken(ctx, tok, stamps, reUnsubTag, links.PurposeUnsubscribe, strings.Replace(b, "+bounces-", "+unsubscribe-", 1)); ok {
				t.Error("a bounce token was accepted as an unsubscribe token")
			}
			// Once the subscriber is gone the address works for nobody.
			gone := func(context.Context, int64) (int64, bool, error) { return 0, false, nil }
			if _, ok, _ := findToken(ctx, tok, gone, reUnsubTag, links.PurposeUnsubscribe, m); ok {
				t.Error("the mailto of a removed subscriber still unsubscribes")
			}
		})
	}
	if UnsubscribeMailto("nonsense", tok, links.Subject{ID: 1}) != "" || BounceAddress("", tok, links.Subject{ID: 1}, 1) != "" {
		t.Error("bad addresses gave tokenised addresses")
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		subject, body string
		want          command
	}{
		{"subscribe", "", cmdSubscribe},
		{"Subscribe!", "", cmdSubscribe},
		{"Re: Fwd: unsubscribe", "", cmdUnsubscribe},
		{"please unsubscribe me", "", cmdUnsubscribe},
		{"", "subscribe\nthanks", cmdSubscribe},
		{"Hello", "\n\n  Unsubscribe me\n", cmdUnsubscribe},
		{"Re: The Region Brief: week 28 and what I think of it", "Stop the war coverage, it is too long\n", cmdUnsubscribe},
		{"Re: The Region Brief: week 28 and what I think of it", "Great issue, but please stop\n", cmdNone},
		{"HELP", "", cmdHelp},
		{"subscribe or unsubscribe", "", cmdHelp},
		{"subscribers are great", "", cmdNone},
		{"", "> subscribe\n", cmdNone},
		{"", "", cmdNone},
	}
	for _, tt := range tests {
		t.Run(tt.subject+"|"+tt.body, func(t *testing.T) {
			if got, _ := parseCommand(tt.subject, tt.body); got != tt.want {
				t.Errorf("parseCommand(%q, %q) = %q, want %q", tt.subject, tt.body, got, tt.want)
			}
		})
	}
}

func TestMachineSender(t *testing.T) {
	tests := map[string]bool{
		"MAILER-DAEMON@example.com":  true,
		"postmaster@example.com":     true,
		"noreply@example.com":        true,
		"no-reply+x@example.com":     true,
		"donotreply@example.com":     true,
		"bounces@example.com":        true,
		"reader@example.com":         false,
		"postmasterly@example.com":   false,
		"no.reply.please@example.co": true,
	}
	for addr, want := range tests {
		t.Run(addr, func(t *testing.T) {
			if got := machineSender(addr); got != want {
				t.Errorf("machineSender(%q) = %v, want %v", addr, got, want)
			}
		})
	}
}

// TestTemporaryFailureRetried: when the confirmation cannot be sent (the
// SMTP server answers 451), the subscribe is still handled: the message is
// moved and the confirmation waits in the outbox, which sends it once the
// backoff has passed, exactly once.
func TestTemporaryFailureRetried(t *testing.T) {
	e := newEnv(t, nil)
	flaky := smtptest.Start(t, smtptest.WithRcptHook(func(_, _ string, n int) error {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}))
	ml, err := mailer.New(mailer.Options{Host: flaky.Host, Port: flaky.Port, TLS: "none", Concurrency: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var offset time.Duration
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	e.outbox, err = outbox.New(outbox.Options{Store: e.db, Sender: ml, Holder: "test", Now: clock, RetryBase: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.imap.deliver(t, mailFrom("new@example.com", listAddr, "subscribe", ""))
	if st := e.poll(t); st.Subscribed != 1 || st.Failed != 0 {
		t.Fatalf("first pass = %+v, want the subscribe handled", st)
	}
	if total, _ := e.imap.count(t, "INBOX"); total != 0 {
		t.Fatalf("INBOX = %d, want the message moved", total)
	}
	if flaky.Len() != 0 {
		t.Fatalf("confirmations accepted = %d after a 451, want 0", flaky.Len())
	}
	if ms, _ := e.db.OutboxMails(context.Background(), outbox.KindConfirm); len(ms) != 1 || ms[0].Attempts != 1 || ms[0].Status != store.OutboxPending {
		t.Fatalf("outbox after the 451: %+v", ms)
	}
	mu.Lock()
	offset = time.Minute
	mu.Unlock()
	for range 2 {
		if _, err := e.outbox.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if flaky.Len() != 1 {
		t.Errorf("confirmations sent = %d, want 1", flaky.Len())
	}
}

// TestBounceTokenInReturnedHeaders: the bounce comes to the plain address
// (the VERP tag was lost on the way) but quotes the original's Return-Path.
func TestBounceTokenInReturnedHeaders(t *testing.T) {
	e := newEnv(t, nil)
	sub := e.addSubscriber(t, "reader@example.com")
	ret := BounceAddress(listAddr, e.tokens, links.Subject{ID: sub.ID, Stamp: sub.Stamp}, 3)
	raw := dsn(listAddr, "reader-forward@elsewhere.example", "5.1.1", "lost@example.net")
	raw = strings.Replace(raw, "Content-Type: text/rfc822-headers\n\n", "Content-Type: text/rfc822-headers\n\nReturn-Path: <"+ret+">\n", 1)
	e.imap.deliver(t, raw)
	if st := e.poll(t); st.HardBounces != 1 {
		t.Fatalf("stats = %+v, want one hard bounce", st)
	}
	if s := e.subscriber(t, sub.ID); s.Status != store.StatusBounced || !strings.Contains(s.LastError, "issue 3") {
		t.Errorf("subscriber = %q, %q; want bounced for issue 3", s.Status, s.LastError)
	}
}
