package outbox

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func msg(to string) *mailer.Message {
	return &mailer.Message{From: "Brief <brief@example.org>", To: to, Subject: "Hello", Date: time.Now(),
		MessageID: "reply-" + strings.ReplaceAll(to, "@", ".") + "@example.org", Text: []byte("hi\n")}
}

// TestRetriesAndGivesUp: a 451 is retried with a doubling backoff until
// it goes through; a 550 ends the row at once; nothing is sent twice.
func TestRetriesAndGivesUp(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := smtptest.Start(t, smtptest.WithRcptHook(func(_, rcpt string, n int) error {
		switch {
		case strings.HasPrefix(rcpt, "nobody@"):
			return smtptest.Error(550, "5.1.1", "No such user")
		case strings.HasPrefix(rcpt, "later@") && n <= 2:
			return smtptest.Error(451, "4.3.0", "Try later")
		}
		return nil
	}))
	m, err := mailer.New(mailer.Options{Host: srv.Host, Port: srv.Port, TLS: "none", Concurrency: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	w, err := New(Options{Store: db, Sender: m, Holder: "t", Now: c.Now, RetryBase: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"later@example.org", "nobody@example.org", "now@example.org"} {
		if err := w.Enqueue(ctx, KindReply, 0, msg(to)); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := w.Flush(ctx); err != nil || st != (Stats{Sent: 1, Retrying: 1, Failed: 1}) {
		t.Fatalf("first flush: %+v %v", st, err)
	}
	c.Add(time.Minute) // first backoff: RetryBase
	if st, _ := w.Flush(ctx); st != (Stats{Retrying: 1}) {
		t.Fatalf("after one minute: %+v", st)
	}
	c.Add(time.Minute) // the second backoff is two minutes
	if st, _ := w.Flush(ctx); st != (Stats{}) {
		t.Fatalf("before the doubled backoff: %+v", st)
	}
	c.Add(time.Minute)
	if st, _ := w.Flush(ctx); st != (Stats{Sent: 1}) {
		t.Fatalf("after the doubled backoff: %+v", st)
	}
	c.Add(time.Hour)
	if st, _ := w.Flush(ctx); st != (Stats{}) {
		t.Fatalf("nothing left, yet %+v", st)
	}
	if srv.Len() != 2 || srv.Count("later@example.org") != 1 || srv.Count("now@example.org") != 1 {
		t.Fatalf("server got %+v", srv.Messages())
	}
	ms, _ := db.OutboxMails(ctx, KindReply)
	for _, m := range ms {
		if strings.Contains(string(m.Message), "nobody@") && (m.Status != store.OutboxFailed || !strings.Contains(m.Error, "550")) {
			t.Fatalf("the refused row: %+v", m)
		}
	}
}

func TestGivesUpAfter(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	down := smtptest.Start(t)
	down.Close()
	m, _ := mailer.New(mailer.Options{Host: down.Host, Port: down.Port, TLS: "none", Concurrency: 1, Timeout: time.Second})
	c := &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	w, _ := New(Options{Store: db, Sender: m, Holder: "t", Now: c.Now, GiveUpAfter: time.Hour, RetryMax: 10 * time.Minute})
	if err := w.Enqueue(ctx, KindReply, 0, msg("a@example.org")); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for range 20 {
		st, err := w.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		failed += st.Failed
		c.Add(10 * time.Minute)
	}
	if failed != 1 {
		t.Fatalf("given up %d times, want once after GiveUpAfter", failed)
	}
}
