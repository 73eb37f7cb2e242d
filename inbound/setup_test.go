package inbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/digest-newsletter/digest/inbound/bounce"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/outbox"
	"github.com/digest-newsletter/digest/subscribers"
)

const (
	listAddr = "list@example.org"
	doneBox  = "Processed"
)

// imapTest is an in-process IMAP server with one user and an INBOX.
type imapTest struct {
	addr string
	user *imapmemserver.User
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...interface{}) {}

func startIMAP(t *testing.T, caps imap.CapSet) *imapTest {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("list", "secret")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       quietLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &imapTest{addr: ln.Addr().String(), user: user}
}

// deliver appends a message to INBOX as a mail server would.
func (m *imapTest) deliver(t *testing.T, raw string) {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	if _, err := m.user.Append("INBOX", bytes.NewReader([]byte(raw)), &imap.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
}

// count returns how many messages, and how many unseen, a mailbox holds
// (-1, -1 if it does not exist).
func (m *imapTest) count(t *testing.T, mailbox string) (total, unseen int) {
	t.Helper()
	st, err := m.user.Status(mailbox, &imap.StatusOptions{NumMessages: true, NumUnseen: true})
	if err != nil {
		return -1, -1
	}
	return int(*st.NumMessages), int(*st.NumUnseen)
}

// confirmationRenderer stands in for the template renderer: the test is
// about what inbound does, and the link is all that matters here.
type confirmationRenderer struct{}

func (confirmationRenderer) Confirmation(link string) (string, []byte, []byte, error) {
	return "Please confirm", []byte(`<p><a href="` + link + `">Confirm</a></p>`), []byte("Confirm: " + link + "\n"), nil
}

type env struct {
	imap    *imapTest
	smtp    *smtptest.Server
	db      *store.DB
	svc     *subscribers.Service
	tokens  *links.Signer
	outbox  *outbox.Worker
	poller  *Poller
	options Options
}

func newEnv(t *testing.T, caps imap.CapSet) *env {
	t.Helper()
	ctx := context.Background()
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	e := &env{imap: startIMAP(t, caps), smtp: smtptest.Start(t)}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	e.tokens, err = links.NewSigner([]byte("0123456789abcdef-test-key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ml, err := mailer.New(mailer.Options{Host: e.smtp.Host, Port: e.smtp.Port, TLS: "none", Concurrency: 1, Timeout: 10 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	nl := config.Newsletter{Title: "The Region Brief", From: "The Region Brief <brief@example.org>", BaseURL: "http://news.example.org"}
	lb, err := links.NewBuilder(nl.BaseURL, e.tokens)
	if err != nil {
		t.Fatal(err)
	}
	e.outbox, err = outbox.New(outbox.Options{Store: db, Sender: ml, Holder: "test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = subscribers.NewService(subscribers.ServiceOptions{
		Store: db, Links: lb, Renderer: confirmationRenderer{}, Outbox: e.outbox,
		Newsletter: nl, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(e.imap.addr)
	p := atoi(t, port)
	e.options = Options{
		Config: config.Inbound{IMAPHost: host, Port: p, TLS: "none", Username: "list", Mailbox: "INBOX",
			DoneMailbox: doneBox, Address: listAddr, PollInterval: time.Hour},
		Delivery:   config.Delivery{BounceAfter: 1, SoftBounceAfter: 2},
		Newsletter: nl,
		Password:   "secret",
		Store:      db, Service: e.svc, Outbox: e.outbox, Signer: e.tokens, Logger: log,
	}
	e.poller, err = New(e.options)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) poll(t *testing.T) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := e.poller.PollOnce(ctx)
	if err != nil {
		t.Fatalf("PollOnce: %v", err)
	}
	// As digest inbound does: what the pass recorded goes out before it ends.
	if _, err := e.outbox.Flush(ctx); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return st
}

func (e *env) addSubscriber(t *testing.T, email string) store.Subscriber {
	t.Helper()
	s, _, err := e.db.AddSubscriber(context.Background(), store.Subscriber{Email: email, Status: store.StatusConfirmed, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) subscriber(t *testing.T, id int64) store.Subscriber {
	t.Helper()
	s, err := e.db.SubscriberByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) subscriberByEmail(t *testing.T, email string) (store.Subscriber, bool) {
	t.Helper()
	s, err := e.db.SubscriberByEmail(context.Background(), email)
	if errors.Is(err, store.ErrNotFound) {
		return s, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

// text returns the decoded text of a message the SMTP server caught.
func text(t *testing.T, m smtptest.Message) string {
	t.Helper()
	r, err := bounce.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return r.Text
}

func mailFrom(from, to, subject, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s\nDate: Mon, 18 Jul 2022 08:00:00 +0000\n", from, to, subject)
	fmt.Fprintf(&b, "Message-ID: <%x@mail.example.com>\n", rand.Uint64())
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\n\n" + body + "\n")
	return b.String()
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
