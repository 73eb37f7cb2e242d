package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
)

var testNow = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// fixture is a store with subscribers, a real SMTP server and a Sender.
type fixture struct {
	cfg    *config.Config
	st     *store.DB
	srv    *smtptest.Server
	tokens *links.Signer
	sender *Sender
	builds int
	mu     sync.Mutex
	// articles returned by the next build
	articles []digest.Article
}

func newFixture(t *testing.T, subs int, opts ...smtptest.Option) *fixture {
	t.Helper()
	srv := smtptest.Start(t, opts...)
	src := fmt.Sprintf(`
[newsletter]
title = "Test Brief"
from = "Test Brief <brief@example.org>"
base_url = "https://news.example.org"
postal_address = "1 Test Street"
[[editions]]
name = "weekly"
schedule = "@weekly"
[[topics]]
name = "Security"
keywords = ["patrol"]
[[topics]]
name = "Economy"
keywords = ["port"]
[smtp]
host = %q
port = %d
tls = "none"
concurrency = 3
max_per_connection = 50
[delivery]
retries = 2
retry_backoff = "1ms"
max_backoff = "5ms"
mark_batch = 5               # a small window keeps the in-flight bounds below the list size
[store]
path = %q
`, srv.Host, srv.Port, filepath.Join(t.TempDir(), "d.db"))
	cfg, err := config.Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i := range subs {
		s := store.Subscriber{Email: fmt.Sprintf("reader%03d@example.net", i), Name: fmt.Sprintf("Reader %d", i), Status: store.StatusConfirmed, Created: testNow, Confirmed: testNow}
		if i%5 == 0 {
			s.Topics = []string{"Economy"}
		}
		if _, _, err := st.AddSubscriber(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	tokens, err := links.NewSigner([]byte("test-secret-0123456789"), func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	lb, err := links.NewBuilder(cfg.Newsletter.BaseURL, tokens)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mailer.New(mailerOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.New(render.Options{Newsletter: cfg.Newsletter, Theme: cfg.Theme, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{cfg: cfg, st: st, srv: srv, tokens: tokens}
	f.articles = []digest.Article{
		{ID: "a1", Title: "Coast patrol doubled", URL: "https://a.example/1", Source: "A", Published: testNow.Add(-2 * time.Hour), Summary: "Patrol boats."},
		{ID: "a2", Title: "Port to expand", URL: "https://b.example/2", Source: "B", Published: testNow.Add(-3 * time.Hour), Summary: "New quay."},
	}
	o := optionsFrom(cfg)
	o.Store, o.Mailer, o.Renderer, o.Links = st, m, r, lb
	o.Logger = slog.New(slog.DiscardHandler)
	o.Now = func() time.Time { return testNow }
	o.Build = func(ctx context.Context, from, to time.Time, seen func(string) bool) (*digest.Digest, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.builds++
		as := digest.Select(f.articles, digest.SelectOptions{From: from, To: to, Seen: seen})
		d := &digest.Digest{Title: cfg.Newsletter.Title, From: from, To: to}
		topics, rest := digest.NewGrouper([]digest.Rule{{Name: "Security", Keywords: []string{"patrol"}}, {Name: "Economy", Keywords: []string{"port"}}}).Group(as)
		if len(rest) > 0 {
			topics = append(topics, digest.Topic{Name: digest.MoreTopic, Articles: rest})
		}
		d.Topics = topics
		return d, nil
	}
	f.sender = New(o)
	return f
}

// inFlight is the most messages the fixture's sender has sent but not
// marked: what a kill or a lost ledger can make go twice.
func (f *fixture) inFlight() int {
	return MaxInFlight(f.cfg.SMTP.Concurrency, f.cfg.Delivery.MarkBatch)
}

// optionsFrom maps a config the way cmd/digest does.
func optionsFrom(cfg *config.Config) Options {
	nl, d := cfg.Newsletter, cfg.Delivery
	o := Options{
		Newsletter: Newsletter{From: nl.From, ReplyTo: nl.ReplyTo, BaseURL: nl.BaseURL, ListID: ListID(nl.Title, nl.From, nl.ListID)},
		Window:     nl.Window, LateArrival: nl.LateArrival,
		Concurrency: cfg.SMTP.Concurrency, MarkBatch: d.MarkBatch, MarkInterval: d.MarkInterval, ClaimTTL: d.ClaimTTL, Breaker: d.Breaker,
		BounceAfter: d.BounceAfter, SoftBounceAfter: d.SoftBounceAfter,
	}
	for _, e := range cfg.Editions {
		o.Editions = append(o.Editions, Edition{Name: e.Name, SkipEmpty: e.SkipEmpty()})
	}
	return o
}

func TestSendEveryRecipientOnceWithHeaders(t *testing.T) {
	f := newFixture(t, 25)
	sum, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 25 || sum.Recipients != 25 || sum.FailedPermanent+sum.FailedTemporary != 0 {
		t.Fatalf("summary %+v", sum)
	}
	msgs := f.srv.Messages()
	if len(msgs) != 25 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		rcpt := m.To[0]
		if seen[rcpt] {
			t.Fatalf("%s got two messages", rcpt)
		}
		seen[rcpt] = true
		h := m.Header
		lu := h.Get("List-Unsubscribe")
		if !strings.HasPrefix(lu, "<https://news.example.org/unsubscribe?token=") {
			t.Fatalf("List-Unsubscribe = %q", lu)
		}
		if h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Fatalf("List-Unsubscribe-Post = %q", h.Get("List-Unsubscribe-Post"))
		}
		if !strings.Contains(h.Get("List-Id"), "<test-brief.example.org>") {
			t.Fatalf("List-Id = %q", h.Get("List-Id"))
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "multipart/alternative") {
			t.Fatalf("Content-Type = %q", h.Get("Content-Type"))
		}
		// The token in the header names this very recipient.
		u, err := url.Parse(strings.Trim(strings.SplitN(lu, ",", 2)[0], "<> "))
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.tokens.Verify(context.Background(), u.Query().Get("token"), links.PurposeUnsubscribe, f.cfg.Server.UnsubscribeTTL, f.st.SubscriberStamp)
		if err != nil {
			t.Fatalf("unsubscribe token: %v", err)
		}
		sub, err := f.st.SubscriberByID(context.Background(), c.Subscriber)
		if err != nil || sub.Email != rcpt {
			t.Fatalf("token names %q (%v), message went to %q", sub.Email, err, rcpt)
		}
		wantID := fmt.Sprintf("<issue-%d.sub-%d@example.org>", sum.Issue, sub.ID)
		if h.Get("Message-Id") != wantID {
			t.Fatalf("Message-ID = %q, want %q", h.Get("Message-Id"), wantID)
		}
		// Topic choice: subscribers who picked Economy do not get Security.
		body := string(m.Data)
		if len(sub.Topics) == 1 && strings.Contains(body, "Coast patrol doubled") {
			t.Fatalf("%s chose %v but got the Security story", rcpt, sub.Topics)
		}
		if len(sub.Topics) == 0 && !strings.Contains(body, "Coast patrol doubled") {
			t.Fatalf("%s chose all topics but misses the Security story", rcpt)
		}
	}
	counts, _ := f.st.IssueCounts(context.Background(), sum.Issue)
	if counts.Sent != 25 || counts.Status != "done" {
		t.Fatalf("ledger %+v", counts)
	}

	// Nothing new: the next send sends nothing and creates no issue.
	again, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil || !again.Empty || f.srv.Len() != 25 {
		t.Fatalf("second send: %+v, %v, server has %d", again, err, f.srv.Len())
	}
}

func TestSendFailures(t *testing.T) {
	f := newFixture(t, 6, smtptest.WithRcptHook(func(from, rcpt string, n int) error {
		switch {
		case strings.HasPrefix(rcpt, "reader001@") && n == 1:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		case strings.HasPrefix(rcpt, "reader002@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
		case strings.HasPrefix(rcpt, "reader003@") && n == 1:
			return smtptest.ErrDrop
		case strings.HasPrefix(rcpt, "reader004@"):
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}))
	sum, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 4 || sum.FailedPermanent != 1 || sum.FailedTemporary != 1 {
		t.Fatalf("summary %+v", sum)
	}
	for i, want := range []int{1, 1, 0, 1, 0, 1} {
		if got := f.srv.Count(fmt.Sprintf("reader%03d@example.net", i)); got != want {
			t.Errorf("reader%03d got %d messages, want %d", i, got, want)
		}
	}
	ctx := context.Background()
	bounced, _ := f.st.SubscriberByEmail(ctx, "reader002@example.net")
	if bounced.Status != store.StatusBounced || !strings.Contains(bounced.LastError, "no such user") {
		t.Fatalf("550 subscriber: %+v", bounced)
	}
	counts, _ := f.st.IssueCounts(ctx, sum.Issue)
	if counts.FailedPerm != 1 || counts.FailedTemp != 1 || counts.Status == "done" {
		t.Fatalf("ledger %+v", counts)
	}
	// The next run retries only the temporary failure, on the same issue.
	f.srv.Close()
}

func TestResumeSendsOnlyWhatIsLeft(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	accepted := 0
	f := newFixture(t, 30, smtptest.WithDataHook(func(from string, to []string, n int) error {
		mu.Lock()
		accepted++
		k := accepted
		mu.Unlock()
		if k > 10 {
			<-release // hold the rest until the first run has been stopped
		}
		return nil
	}))
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Summary)
	go func() {
		s, _ := f.sender.Send(ctx, SendOptions{})
		done <- s
	}()
	if err := f.srv.WaitFor(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	cancel()
	once.Do(func() { close(release) })
	first := <-done
	if first.Sent >= 30 {
		t.Fatalf("first run was not interrupted: %+v", first)
	}
	// A template or theme edit between the runs must not change the issue.
	theme := f.cfg.Theme
	theme.FooterText = "CHANGED FOOTER"
	r2, err := render.New(render.Options{Newsletter: f.cfg.Newsletter, Theme: theme})
	if err != nil {
		t.Fatal(err)
	}
	f.sender.o.Renderer = r2
	second, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range f.srv.Messages() {
		if strings.Contains(string(m.Data), "CHANGED FOOTER") {
			t.Fatal("resumed message rendered anew instead of from the frozen issue")
		}
	}
	if !second.Resumed || second.Issue != first.Issue {
		t.Fatalf("second run did not resume issue %d: %+v", first.Issue, second)
	}
	if f.builds != 1 {
		t.Fatalf("digest built %d times; a resumed issue must reuse the frozen one", f.builds)
	}
	dups := 0
	for i := range 30 {
		n := f.srv.Count(fmt.Sprintf("reader%03d@example.net", i))
		if n == 0 {
			t.Fatalf("reader%03d got nothing", i)
		}
		dups += n - 1
	}
	if bound := f.inFlight(); dups > bound {
		t.Fatalf("%d duplicates, more than the %d in flight", dups, bound)
	}
}

func TestUnsubscribedAfterFreezeIsSkipped(t *testing.T) {
	f := newFixture(t, 3)
	ctx := context.Background()
	// Freeze an issue while the server is down, then unsubscribe one reader
	// before the resume: the unsubscribe must win over the frozen ledger.
	sub, _ := f.st.SubscriberByEmail(ctx, "reader001@example.net")
	f.srv.Close()
	sum, _ := f.sender.Send(ctx, SendOptions{})
	if sum.Sent != 0 {
		t.Fatalf("sent with the server down: %+v", sum)
	}
	if err := f.st.SetStatus(ctx, sub.ID, store.StatusUnsubscribed, testNow); err != nil {
		t.Fatal(err)
	}
	srv := smtptest.Start(t)
	f.cfg.SMTP.Port = srv.Port
	m, _ := mailer.New(mailerOptions(f.cfg))
	f.sender.o.Mailer = m
	sum, err := f.sender.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 2 || sum.Skipped != 1 || srv.Count("reader001@example.net") != 0 {
		t.Fatalf("summary %+v; unsubscribed reader got %d", sum, srv.Count("reader001@example.net"))
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t, 4)
	out := t.TempDir()
	sum, err := f.sender.Send(context.Background(), SendOptions{DryRun: true, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Recipients != 4 || f.srv.Len() != 0 {
		t.Fatalf("dry run: %+v, server got %d", sum, f.srv.Len())
	}
	if _, found, _ := f.st.LastIssue(context.Background(), "weekly"); found {
		t.Fatal("dry run created an issue")
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	if len(files) != 4 {
		t.Fatalf("%d .eml files", len(files))
	}
	if _, err := os.Stat(filepath.Join(out, "preview.html")); err != nil {
		t.Fatal(err)
	}
}

func TestMessageIDAndListID(t *testing.T) {
	if got := MessageID(12, 345, "Brief <brief@Example.ORG>"); got != "issue-12.sub-345@example.org" {
		t.Fatal(got)
	}
	if got := ListID("The Region Brief", "x@news.example.org", ""); got != "The Region Brief <the-region-brief.news.example.org>" {
		t.Fatal(got)
	}
	if got := ListID("Brief", "x@news.example.org", "brief.example.org"); got != "Brief <brief.example.org>" {
		t.Fatal(got)
	}
}

func TestLateArrivalsAndNoRepeats(t *testing.T) {
	f := newFixture(t, 2)
	ctx := context.Background()
	first, err := f.sender.Send(ctx, SendOptions{})
	if err != nil || first.Sent != 2 {
		t.Fatalf("first send: %+v, %v", first, err)
	}
	// A day later a feed shows an item dated before the first issue ended
	// (published late), plus the same old story under a tracking URL.
	f.mu.Lock()
	f.articles = append(f.articles,
		digest.Article{ID: "late", Title: "Late patrol report", URL: "https://c.example/late", Source: "C", Published: testNow.Add(-time.Hour), Summary: "Patrol."},
		digest.Article{ID: "other-guid", Title: "Port to expand", URL: "https://b.example/2?utm_source=x", Source: "B", Published: testNow.Add(-3 * time.Hour)},
	)
	f.mu.Unlock()
	f.sender.o.Now = func() time.Time { return testNow.Add(24 * time.Hour) }
	second, err := f.sender.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Articles != 1 || second.Digest.Topics[0].Articles[0].ID != "late" {
		t.Fatalf("second issue should carry only the late arrival: %+v", second.Digest.Topics)
	}
	if second.Sent != 2 {
		t.Fatalf("second send: %+v", second)
	}
}

// mailerOptions is what cmd/digest maps from the config, for these tests.
func mailerOptions(cfg *config.Config) mailer.Options {
	return mailer.Options{
		Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: cfg.SMTP.TLS,
		Concurrency: cfg.SMTP.Concurrency, Timeout: cfg.SMTP.Timeout, MaxPerConnection: cfg.SMTP.MaxPerConnection,
		Retries: cfg.Delivery.Retries, RetryBackoff: cfg.Delivery.RetryBackoff, MaxBackoff: cfg.Delivery.MaxBackoff,
	}
}
