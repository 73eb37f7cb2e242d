package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
)

// reader is the address of the fixture's i-th subscriber.
func reader(i int) string { return fmt.Sprintf("reader%03d@example.net", i) }

// useMailer replaces the fixture's mailer (after changing the SMTP config).
func (f *fixture) useMailer(t *testing.T, mod func(*mailer.Options)) {
	t.Helper()
	o := mailerOptions(f.cfg)
	if mod != nil {
		mod(&o)
	}
	m, err := mailer.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.sender.o.Mailer = m
}

// counts returns the server's messages per fixture reader.
func (f *fixture) counts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = f.srv.Count(reader(i))
	}
	return out
}

func (f *fixture) ledger(t *testing.T, issue int64) store.IssueSummary {
	t.Helper()
	c, err := f.st.IssueCounts(context.Background(), issue)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUnknownOutcomeIsSentAgain: a connection lost after the end of DATA,
// before the reply, is never marked sent. Whether the server kept the
// message (a copy, same Message-ID) or not (the only copy), the next run
// sends it again.
func TestUnknownOutcomeIsSentAgain(t *testing.T) {
	f := newFixture(t, 10, smtptest.WithDataHook(func(_ string, to []string, n int) error {
		switch {
		case n == 1 && to[0] == reader(1):
			return smtptest.ErrDrop // not kept
		case n == 1 && to[0] == reader(2):
			return smtptest.ErrKeepAndDrop // kept, reply lost
		}
		return nil
	}))
	ctx := context.Background()
	first, err := f.sender.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Sent != 8 || first.FailedTemporary != 2 || first.State != StatePending || first.Pending != 2 {
		t.Fatalf("first run %+v: want 8 sent, 2 left pending", first)
	}
	if got := f.counts(3); got[1] != 0 || got[2] != 1 {
		t.Fatalf("server after the first run: reader001 %d (want 0), reader002 %d (want 1)", got[1], got[2])
	}
	second, err := f.sender.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Resumed || second.Sent != 2 || second.State != StateDone {
		t.Fatalf("second run %+v", second)
	}
	got := f.counts(10)
	for i, n := range got {
		want := 1
		if i == 2 {
			want = 2 // the copy the server had kept: within the bound
		}
		if n != want {
			t.Errorf("%s got %d messages, want %d", reader(i), n, want)
		}
	}
	var ids []string
	for _, m := range f.srv.Messages() {
		if m.To[0] == reader(2) {
			ids = append(ids, m.Header.Get("Message-Id"))
		}
	}
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Errorf("the two copies carry Message-IDs %v: want the same one", ids)
	}
}

// TestHangPastTimeoutIsNotSent: a server that stalls after the end of DATA
// past smtp.timeout leaves the recipient pending, never "sent".
func TestHangPastTimeoutIsNotSent(t *testing.T) {
	var hangs atomic.Int32
	f := newFixture(t, 6, smtptest.WithDataHook(func(_ string, to []string, n int) error {
		if n == 1 && (to[0] == reader(0) || to[0] == reader(4)) {
			hangs.Add(1)
			return smtptest.ErrHang
		}
		return nil
	}))
	f.useMailer(t, func(o *mailer.Options) { o.Timeout = 2 * time.Second })
	ctx := context.Background()
	first, err := f.sender.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hangs.Load() != 2 || first.Sent != 4 || first.State != StatePending || first.Pending != 2 {
		t.Fatalf("first run %+v after %d hangs: want 4 sent and 2 pending", first, hangs.Load())
	}
	c := f.ledger(t, first.Issue)
	if c.Sent != 4 || c.FailedTemp != 2 || c.Status == store.IssueDone {
		t.Fatalf("ledger %+v", c)
	}
	second, err := f.sender.Send(ctx, SendOptions{})
	if err != nil || second.State != StateDone || second.Sent != 2 {
		t.Fatalf("second run %+v, %v", second, err)
	}
	for i, n := range f.counts(6) {
		if n != 1 {
			t.Errorf("%s got %d messages", reader(i), n)
		}
	}
}

// TestBouncesOnlyWhenTheReplyBlamesTheAddress: the enhanced status code
// (or, without one, the text) decides whether a 5xx counts against the
// subscriber.
func TestBouncesOnlyWhenTheReplyBlamesTheAddress(t *testing.T) {
	replies := map[string]error{
		reader(1): smtptest.Error(550, "5.1.1", "No such user"),
		reader(2): smtptest.Error(552, "5.2.2", "Mailbox full"),
		reader(3): smtptest.Error(550, "5.7.1", "Message rejected as spam"),
		reader(4): &smtp.SMTPError{Code: 550, EnhancedCode: smtp.NoEnhancedCode, Message: "User unknown"},
		reader(5): smtptest.Error(554, "5.6.0", "Message content refused"),
		reader(6): &smtp.SMTPError{Code: 550, EnhancedCode: smtp.NoEnhancedCode, Message: "Relaying denied"},
	}
	f := newFixture(t, 8, smtptest.WithReply(func(_, rcpt string) error { return replies[rcpt] }))
	sum, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 2 || sum.FailedPermanent != 6 || sum.State != StateDone {
		t.Fatalf("summary %+v", sum)
	}
	want := map[int]struct {
		status string
		hard   int
		soft   int
	}{
		1: {store.StatusBounced, 1, 0},
		2: {store.StatusConfirmed, 0, 1}, // soft: bounced after soft_bounce_after
		3: {store.StatusConfirmed, 0, 0},
		4: {store.StatusBounced, 1, 0},
		5: {store.StatusConfirmed, 0, 0},
		6: {store.StatusConfirmed, 0, 0},
	}
	for i, w := range want {
		s, err := f.st.SubscriberByEmail(context.Background(), reader(i))
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != w.status || s.HardBounces != w.hard || s.SoftBounces != w.soft {
			t.Errorf("%s after %q: status %s, hard %d, soft %d; want %s, %d, %d",
				reader(i), replies[reader(i)], s.Status, s.HardBounces, s.SoftBounces, w.status, w.hard, w.soft)
		}
	}
}

// TestBreakerPausesWithoutBouncing: a relay refusing everyone pauses the
// issue after Breaker recipients; nobody is bounced, and once the relay is
// fixed the next run delivers everyone exactly once.
func TestBreakerPausesWithoutBouncing(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	var refused atomic.Int32
	const n = 120
	f := newFixture(t, n, smtptest.WithReply(func(_, _ string) error {
		if broken.Load() {
			refused.Add(1)
			return smtptest.Error(550, "5.7.1", "Relaying denied")
		}
		return nil
	}))
	ctx := context.Background()
	sum, err := f.sender.Send(ctx, SendOptions{})
	var paused *PausedError
	if !errors.As(err, &paused) || !strings.Contains(err.Error(), "550 5.7.1 Relaying denied") {
		t.Fatalf("err %v, want a PausedError naming the reply", err)
	}
	if sum.State != StatePaused || sum.Pending != n || sum.FailedPermanent != 0 || sum.Sent != 0 {
		t.Fatalf("summary %+v", sum)
	}
	// The breaker stopped the feed: at most the breaker plus what was in
	// flight reached the relay, not the whole list.
	if r := int(refused.Load()); r > f.sender.o.Breaker+f.inFlight() {
		t.Errorf("%d recipients tried before the pause", r)
	}
	if c, _ := f.st.CountSubscribers(ctx, store.Filter{Status: store.StatusBounced}); c != 0 {
		t.Fatalf("%d subscribers marked bounced", c)
	}
	broken.Store(false)
	again, err := f.sender.Send(ctx, SendOptions{})
	if err != nil || again.State != StateDone || again.Sent != n {
		t.Fatalf("after the fix: %+v, %v", again, err)
	}
	for i, c := range f.counts(n) {
		if c != 1 {
			t.Errorf("%s got %d", reader(i), c)
		}
	}
}

// TestLedgerFailureStopsWithinInFlight makes the real SQLite file refuse
// "sent" marks after a while (a trigger standing in for a full disk): the
// send stops with an error, no more than the messages in flight left the
// server unrecorded, and the run after the disk is fixed sends only those
// not recorded.
func TestLedgerFailureStopsWithinInFlight(t *testing.T) {
	const n, after = 300, 60
	f := newFixture(t, n)
	ctx := context.Background()
	raw, err := sql.Open("sqlite", f.cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, fmt.Sprintf(`CREATE TRIGGER disk_full BEFORE UPDATE OF status ON deliveries
		WHEN NEW.status = 'sent' AND (SELECT count(*) FROM deliveries WHERE status = 'sent') >= %d
		BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`, after)); err != nil {
		t.Fatal(err)
	}
	sum, err := f.sender.Send(ctx, SendOptions{})
	var le *LedgerError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("err %v, want a LedgerError", err)
	}
	c := f.ledger(t, sum.Issue)
	unrecorded := f.srv.Len() - c.Sent
	t.Logf("ledger failed after %d marks; the server has %d", c.Sent, f.srv.Len())
	if unrecorded < 0 || unrecorded > f.inFlight() {
		t.Fatalf("%d messages left the server unrecorded, more than the %d in flight", unrecorded, f.inFlight())
	}
	if _, err := raw.ExecContext(ctx, "DROP TRIGGER disk_full"); err != nil {
		t.Fatal(err)
	}
	again, err := f.sender.Send(ctx, SendOptions{})
	if err != nil || again.State != StateDone {
		t.Fatalf("after the fix: %+v, %v", again, err)
	}
	dups := 0
	for i, got := range f.counts(n) {
		if got == 0 {
			t.Fatalf("%s got nothing", reader(i))
		}
		dups += got - 1
	}
	if dups != unrecorded {
		t.Errorf("%d duplicates, want exactly the %d unrecorded", dups, unrecorded)
	}
}

// TestTwoSendersOneIssue: two senders on two handles of one store file
// start together; they make one issue and share its ledger.
func TestTwoSendersOneIssue(t *testing.T) {
	const n = 400
	f := newFixture(t, n, smtptest.WithDelay(time.Millisecond))
	st2, err := store.Open(context.Background(), f.cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	o2 := f.sender.o
	o2.Store = st2
	// Hold both builds until both have started, so they race to freeze.
	var started sync.WaitGroup
	started.Add(2)
	for _, o := range []*Options{&f.sender.o, &o2} {
		build := o.Build
		o.Build = func(ctx context.Context, from, to time.Time, seen func(string) bool) (*digest.Digest, error) {
			started.Done()
			started.Wait()
			return build(ctx, from, to, seen)
		}
	}
	second := New(o2)
	var wg sync.WaitGroup
	sums := make([]Summary, 2)
	errs := make([]error, 2)
	for i, s := range []*Sender{f.sender, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = s.Send(context.Background(), SendOptions{})
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || sums[i].State != StateDone {
			t.Fatalf("sender %d: %+v, %v", i, sums[i], errs[i])
		}
	}
	if sums[0].Issue != sums[1].Issue || sums[0].Sent+sums[1].Sent != n {
		t.Fatalf("summaries %+v and %+v: want one issue, %d sent between them", sums[0], sums[1], n)
	}
	t.Logf("sent %d and %d", sums[0].Sent, sums[1].Sent)
	for i, c := range f.counts(n) {
		if c != 1 {
			t.Errorf("%s got %d", reader(i), c)
		}
	}
}

// TestIssueSentByOtherMeanwhile: while this send collects, another sender
// makes and finishes the window's issue; this one must not send a second.
func TestIssueSentByOtherMeanwhile(t *testing.T) {
	f := newFixture(t, 5)
	o2 := f.sender.o
	first := New(o2)
	build := f.sender.o.Build
	f.sender.o.Build = func(ctx context.Context, from, to time.Time, seen func(string) bool) (*digest.Digest, error) {
		if sum, err := first.Send(ctx, SendOptions{}); err != nil || sum.State != StateDone {
			t.Errorf("the other sender: %+v, %v", sum, err)
		}
		// An article the other sender's collection did not see yet.
		f.mu.Lock()
		f.articles = append(f.articles, digest.Article{ID: "a3", Title: "Late patrol", URL: "https://c.example/3", Source: "C", Published: testNow.Add(-time.Hour)})
		f.mu.Unlock()
		return build(ctx, from, to, seen)
	}
	sum, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil || !sum.SentByOther || sum.Sent != 0 {
		t.Fatalf("summary %+v, %v: want sent by the other sender", sum, err)
	}
	if f.srv.Len() != 5 {
		t.Fatalf("server got %d messages, want 5", f.srv.Len())
	}
}

// TestEditionsIndependent: an article the daily edition sent is still new
// for the weekly one, and each edition remembers its own.
func TestEditionsIndependent(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	f.sender.o.Editions = []Edition{{Name: "weekly", SkipEmpty: true}, {Name: "daily", SkipEmpty: true}}
	for _, s := range []store.Subscriber{
		{Email: "w@example.net", Status: store.StatusConfirmed, Edition: "weekly", Created: testNow},
		{Email: "d@example.net", Status: store.StatusConfirmed, Edition: "daily", Created: testNow},
	} {
		if _, _, err := f.st.AddSubscriber(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	daily, err := f.sender.Send(ctx, SendOptions{Edition: "daily"})
	if err != nil || daily.Sent != 1 || daily.Articles != 2 {
		t.Fatalf("daily: %+v, %v", daily, err)
	}
	weekly, err := f.sender.Send(ctx, SendOptions{Edition: "weekly"})
	if err != nil || weekly.Empty || weekly.Sent != 1 || weekly.Articles != 2 {
		t.Fatalf("weekly after daily: %+v, %v: the daily edition used up its articles", weekly, err)
	}
	again, err := f.sender.Send(ctx, SendOptions{Edition: "daily"})
	if err != nil || !again.Empty {
		t.Fatalf("daily again: %+v, %v: want nothing new", again, err)
	}
	if f.srv.Count("w@example.net") != 1 || f.srv.Count("d@example.net") != 1 {
		t.Fatal("each reader should have exactly their edition's issue")
	}
}

// TestRedatedArticleNotRepeated: an article sent long ago whose date moved
// into a later window (an edited file, a re-dated feed item) is not among
// the keys read by time, and still does not go out again.
func TestRedatedArticleNotRepeated(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	at := func(d time.Duration) { f.sender.o.Now = func() time.Time { return testNow.Add(d) } }
	if s, err := f.sender.Send(ctx, SendOptions{}); err != nil || s.Articles != 2 {
		t.Fatalf("first: %+v, %v", s, err)
	}
	f.mu.Lock()
	f.articles = append(f.articles, digest.Article{ID: "b1", Title: "Patrol boat named", URL: "https://c.example/b1", Source: "C", Published: testNow.Add(9 * 24 * time.Hour)})
	f.mu.Unlock()
	at(10 * 24 * time.Hour)
	if s, err := f.sender.Send(ctx, SendOptions{}); err != nil || s.Articles != 1 {
		t.Fatalf("second: %+v, %v", s, err)
	}
	// Now a1, sent ten days before the second issue, comes back dated
	// after it.
	f.mu.Lock()
	f.articles[0].Published = testNow.Add(19 * 24 * time.Hour)
	f.articles = append(f.articles, digest.Article{ID: "c1", Title: "Port opens", URL: "https://c.example/c1", Source: "C", Published: testNow.Add(19 * 24 * time.Hour)})
	f.mu.Unlock()
	at(20 * 24 * time.Hour)
	third, err := f.sender.Send(ctx, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if third.Articles != 1 || third.Digest.Topics[0].Articles[0].ID != "c1" {
		t.Fatalf("third issue repeats an old article: %+v", third.Digest.Topics)
	}
}

// TestAllSourcesFailedIsAnError: silence is never success.
func TestAllSourcesFailedIsAnError(t *testing.T) {
	f := newFixture(t, 2)
	f.sender.o.Sources = []string{"Folder", "Feed"}
	failing := []digest.SourceError{{Source: "Folder", Error: "open examples/gone: no such file or directory"}}
	build := f.sender.o.Build
	f.sender.o.Build = func(ctx context.Context, from, to time.Time, seen func(string) bool) (*digest.Digest, error) {
		d, err := build(ctx, from, to, seen)
		d.Errors = failing
		return d, err
	}
	ctx := context.Background()
	some, err := f.sender.Send(ctx, SendOptions{})
	if err != nil || some.Sent != 2 || len(some.Errors) != 1 {
		t.Fatalf("one source failing: %+v, %v: want the issue sent and the failure reported", some, err)
	}
	failing = append(failing, digest.SourceError{Source: "Feed", Error: "http: GET https://example.org/feed.xml: status 503"})
	f.sender.o.Now = func() time.Time { return testNow.Add(time.Hour) }
	sum, err := f.sender.Send(ctx, SendOptions{})
	var se *SourcesError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), `"Folder"`) || !strings.Contains(err.Error(), `"Feed"`) {
		t.Fatalf("every source failing: %v, want a SourcesError naming both", err)
	}
	if sum.Issue != 0 || f.srv.Len() != 2 {
		t.Fatalf("an issue was made or sent: %+v, server %d", sum, f.srv.Len())
	}
}

func TestSecondsIsMeasured(t *testing.T) {
	f := newFixture(t, 3, smtptest.WithDelay(20*time.Millisecond))
	sum, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil || sum.Seconds < 0.02 {
		t.Fatalf("seconds %v (%v): want the send's real duration", sum.Seconds, err)
	}
}

// TestBreakerRuns checks the breaker's reading of results that arrive out
// of the order they were handed out.
func TestBreakerRuns(t *testing.T) {
	perm := func(id int64) failure {
		return failure{mark: store.Mark{DeliveryID: id}, permanent: true}
	}
	temp := failure{}
	b := breaker{limit: 3}
	if rel, hold, left := b.failure("rcpt 550 5.7.1", "", 5, perm(5)); rel != nil || !hold || left != nil {
		t.Fatal("first failure should be held")
	}
	// A success handed out before the run began proves nothing.
	if rel := b.success(4); rel != nil || b.count != 1 {
		t.Fatal("an older success broke the run")
	}
	// A different temporary failure neither counts nor breaks.
	if rel, hold, _ := b.failure("dial", "", 7, temp); rel != nil || hold || b.count != 1 {
		t.Fatal("a different temporary failure changed the run")
	}
	b.failure("rcpt 550 5.7.1", "", 6, perm(6))
	_, _, left := b.failure("rcpt 550 5.7.1", "", 8, perm(8))
	if !b.tripped || len(left) != 3 {
		t.Fatalf("tripped %v with %d left open, want 3", b.tripped, len(left))
	}
	if rel := b.success(99); rel != nil {
		t.Fatal("a tripped breaker released failures")
	}

	b = breaker{limit: 3}
	b.failure("rcpt 550 5.7.1", "", 5, perm(5))
	if rel := b.success(6); len(rel) != 1 || b.count != 0 {
		t.Fatal("a newer success should break the run and release its failure")
	}
	b.failure("rcpt 550 5.7.1", "", 7, perm(7))
	if rel, hold, _ := b.failure("rcpt 550 5.1.1", "", 9, perm(9)); len(rel) != 1 || !hold || b.key != "rcpt 550 5.1.1" {
		t.Fatal("a newer different permanent failure should start a run of its own")
	}
}

// TestSmallListBehindBrokenRelayPauses: fewer recipients than the breaker,
// all refused the same way for a reason that blames none of them: the
// issue pauses instead of failing them all for good.
func TestSmallListBehindBrokenRelayPauses(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	f := newFixture(t, 5, smtptest.WithReply(func(_, _ string) error {
		if broken.Load() {
			return smtptest.Error(554, "5.7.1", "Relay access denied")
		}
		return nil
	}))
	ctx := context.Background()
	sum, err := f.sender.Send(ctx, SendOptions{})
	var paused *PausedError
	if !errors.As(err, &paused) || sum.State != StatePaused || sum.Pending != 5 || sum.FailedPermanent != 0 {
		t.Fatalf("%+v, %v: want the issue paused with all 5 pending", sum, err)
	}
	broken.Store(false)
	if sum, err := f.sender.Send(ctx, SendOptions{}); err != nil || sum.Sent != 5 || sum.State != StateDone {
		t.Fatalf("after the fix: %+v, %v", sum, err)
	}
}

// TestLastRecipientRefusedIsProbed: the last recipient of a send is
// refused for a reason that blames the relay, and nothing after it shows
// the relay works; a probe with an address the issue reached settles it:
// the recipient's server refuses us, so it fails for good (not bounced)
// and the issue finishes.
func TestLastRecipientRefusedIsProbed(t *testing.T) {
	const n = 12
	var probes atomic.Int32
	f := newFixture(t, n, smtptest.WithRcptHook(func(_, rcpt string, try int) error {
		if rcpt == reader(n-1) {
			return smtptest.Error(550, "5.7.1", "Message refused by local policy")
		}
		if try > 1 { // only the probe offers a recipient twice
			probes.Add(1)
		}
		return nil
	}))
	sum, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil || sum.State != StateDone || sum.FailedPermanent != 1 || sum.Sent != n-1 {
		t.Fatalf("%+v, %v: want done with the last refused for good", sum, err)
	}
	if probes.Load() != 1 || f.srv.Len() != n-1 {
		t.Fatalf("%d probes, %d messages: want 1 probe that delivered nothing", probes.Load(), f.srv.Len())
	}
	if s, _ := f.st.SubscriberByEmail(context.Background(), reader(n-1)); s.Status != store.StatusConfirmed {
		t.Fatalf("subscriber %s after a policy refusal", s.Status)
	}
}

// gatedMarks holds the first group of marks until released, as a slow
// ledger would.
type gatedMarks struct {
	Store
	once    sync.Once
	first   chan int // the size of the first group, once it is being written
	release chan struct{}
}

func (g *gatedMarks) MarkDeliveries(ctx context.Context, marks []store.Mark) error {
	g.once.Do(func() {
		g.first <- len(marks)
		<-g.release
	})
	return g.Store.MarkDeliveries(ctx, marks)
}

// TestSMTPDoesNotWaitForMarks: at concurrency 1, while a group of marks is
// being committed, the next messages still go out (up to MaxInFlight), and
// every one is marked in the end.
func TestSMTPDoesNotWaitForMarks(t *testing.T) {
	const n = 12
	f := newFixture(t, n)
	o := f.sender.o
	o.Concurrency, o.MarkBatch = 1, 5
	g := &gatedMarks{Store: f.st, first: make(chan int), release: make(chan struct{})}
	o.Store = g
	done := make(chan error, 1)
	var sum Summary
	go func() {
		var err error
		sum, err = New(o).Send(context.Background(), SendOptions{})
		done <- err
	}()
	group := <-g.first
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.srv.WaitFor(ctx, group+1); err != nil {
		t.Fatalf("no message left while %d marks were being written (server has %d): SMTP waited for the ledger", group, f.srv.Len())
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if sum.Sent != n || f.srv.Len() != n {
		t.Fatalf("sent %d, server has %d, want %d", sum.Sent, f.srv.Len(), n)
	}
}
