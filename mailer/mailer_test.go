package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

func testMessage(i int) *Message {
	return &Message{
		From:              "The Brief <brief@example.org>",
		To:                fmt.Sprintf("Reader %d <reader%d@example.net>", i, i),
		ReplyTo:           "editor@example.org",
		Subject:           fmt.Sprintf("The Brief, issue 12 — reader %d", i),
		Date:              time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC),
		MessageID:         fmt.Sprintf("issue-12.sub-%d@example.org", i),
		Text:              []byte(fmt.Sprintf("Hello reader %d.\n\nUnsubscribe: https://news.example.org/unsubscribe?token=tok%d\n", i, i)),
		HTML:              []byte(fmt.Sprintf("<html><body><p>Hello reader %d.</p><a href=\"https://news.example.org/unsubscribe?token=tok%d\">Unsubscribe</a></body></html>", i, i)),
		ListID:            "The Brief <brief.example.org>",
		UnsubscribeURL:    fmt.Sprintf("https://news.example.org/unsubscribe?token=tok%d", i),
		UnsubscribeMailto: fmt.Sprintf("mailto:unsubscribe@example.org?subject=tok%d", i),
		Headers:           map[string]string{"X-Digest-Issue": "12"},
	}
}

func rcpt(i int) string { return fmt.Sprintf("reader%d@example.net", i) }

func newTestMailer(t testing.TB, s *smtptest.Server, edit func(*Options)) *Mailer {
	t.Helper()
	o := Options{
		Host: s.Host, Port: s.Port, TLS: "none",
		Concurrency: 2, Timeout: 5 * time.Second,
		Retries: 3, RetryBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
	}
	if edit != nil {
		edit(&o)
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// deliverAll feeds n test messages through Deliver and collects results by ID.
func deliverAll(t *testing.T, m *Mailer, n int) map[int64]Result {
	t.Helper()
	jobs := make(chan Job, n)
	for i := 0; i < n; i++ {
		jobs <- Job{ID: int64(i), Msg: testMessage(i)}
	}
	close(jobs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(map[int64]Result)
	for r := range m.Deliver(ctx, jobs) {
		if _, dup := got[r.ID]; dup {
			t.Fatalf("two results for job %d", r.ID)
		}
		got[r.ID] = r
	}
	if len(got) != n {
		t.Fatalf("%d results for %d jobs", len(got), n)
	}
	return got
}

func TestDeliverEveryRecipientOnceWithHeaders(t *testing.T) {
	s := smtptest.Start(t)
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 4 })
	const n = 40
	for id, r := range deliverAll(t, m, n) {
		if r.Err != nil || r.Attempts != 1 {
			t.Errorf("job %d: err %v attempts %d", id, r.Err, r.Attempts)
		}
	}
	if s.Len() != n {
		t.Fatalf("server accepted %d messages, want %d", s.Len(), n)
	}
	if c := s.Connections(); c > 4 {
		t.Errorf("%d connections for 4 workers", c)
	}
	byRcpt := map[string]smtptest.Message{}
	for _, msg := range s.Messages() {
		byRcpt[msg.To[0]] = msg
	}
	for i := 0; i < n; i++ {
		if c := s.Count(rcpt(i)); c != 1 {
			t.Fatalf("%s got %d messages", rcpt(i), c)
		}
		msg := byRcpt[rcpt(i)]
		if msg.From != "brief@example.org" {
			t.Errorf("MAIL FROM %q", msg.From)
		}
		h := msg.Header
		want := map[string]string{
			"List-Unsubscribe":      fmt.Sprintf("<https://news.example.org/unsubscribe?token=tok%d>, <mailto:unsubscribe@example.org?subject=tok%d>", i, i),
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Id":               "The Brief <brief.example.org>",
			"Message-Id":            fmt.Sprintf("<issue-12.sub-%d@example.org>", i),
			"X-Digest-Issue":        "12",
			"Date":                  "Mon, 02 Mar 2026 07:00:00 +0000",
		}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("%s %s = %q, want %q", rcpt(i), k, got, v)
			}
		}
		dec := new(mime.WordDecoder)
		if subj, _ := dec.DecodeHeader(h.Get("Subject")); subj != testMessage(i).Subject {
			t.Errorf("Subject %q", subj)
		}
		if to, err := mail.ParseAddress(h.Get("To")); err != nil || to.Address != rcpt(i) {
			t.Errorf("To %q", h.Get("To"))
		}
		checkAlternative(t, msg.Data, fmt.Sprintf("Hello reader %d.", i))
	}
}

// checkAlternative asserts a multipart/alternative body with a text and an
// HTML part, both containing want.
func checkAlternative(t *testing.T, data []byte, want string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, pt)
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("%s part lacks %q: %q", pt, want, body)
		}
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want text/plain,text/html", types)
	}
}

func smtpErr(code int, enh gosmtp.EnhancedCode, msg string) error {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

func TestFailureClassification(t *testing.T) {
	greylist := smtpErr(451, gosmtp.EnhancedCode{4, 7, 1}, "Greylisted, come back later")
	noUser := smtpErr(550, gosmtp.EnhancedCode{5, 1, 1}, "No such user here")
	firstOnly := func(err error) func(string, string, int) error {
		return func(_, _ string, n int) error {
			if n == 1 {
				return err
			}
			return nil
		}
	}
	dataFirstOnly := func(err error) func(string, []string, int) error {
		return func(_ string, _ []string, n int) error {
			if n == 1 {
				return err
			}
			return nil
		}
	}
	tests := []struct {
		name         string
		opts         []smtptest.Option
		retries      int
		wantErr      bool
		wantOp       string
		wantCode     int
		wantTemp     bool
		wantAmbig    bool
		wantAttempts int
		wantCount    int
		wantConns    int // 0: don't check
	}{
		{name: "451 at RCPT retried then accepted", opts: []smtptest.Option{smtptest.WithRcptHook(firstOnly(greylist))},
			retries: 3, wantAttempts: 2, wantCount: 1, wantConns: 1},
		{name: "451 at end of DATA retried then accepted", opts: []smtptest.Option{smtptest.WithDataHook(dataFirstOnly(greylist))},
			retries: 3, wantAttempts: 2, wantCount: 1, wantConns: 1},
		{name: "550 at RCPT is permanent", opts: []smtptest.Option{smtptest.WithRcptHook(func(string, string, int) error { return noUser })},
			retries: 3, wantErr: true, wantOp: "rcpt", wantCode: 550, wantAttempts: 1},
		{name: "550 at end of DATA is permanent", opts: []smtptest.Option{smtptest.WithDataHook(func(string, []string, int) error { return noUser })},
			retries: 3, wantErr: true, wantOp: "close", wantCode: 550, wantAttempts: 1},
		{name: "451 forever gives up after retries", opts: []smtptest.Option{smtptest.WithRcptHook(func(string, string, int) error { return greylist })},
			retries: 2, wantErr: true, wantOp: "rcpt", wantCode: 451, wantTemp: true, wantAttempts: 3},
		{name: "dropped connection at RCPT is redialled", opts: []smtptest.Option{smtptest.WithRcptHook(firstOnly(smtptest.ErrDrop))},
			retries: 3, wantAttempts: 2, wantCount: 1, wantConns: 2},
		{name: "dropped connection after DATA is possibly sent", opts: []smtptest.Option{smtptest.WithDataHook(dataFirstOnly(smtptest.ErrDrop))},
			retries: 3, wantErr: true, wantOp: "close", wantTemp: true, wantAmbig: true, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smtptest.Start(t, tt.opts...)
			m := newTestMailer(t, s, func(o *Options) { o.Retries = tt.retries; o.Concurrency = 1 })
			r := deliverAll(t, m, 1)[0]
			if r.Attempts != tt.wantAttempts {
				t.Errorf("attempts %d, want %d", r.Attempts, tt.wantAttempts)
			}
			if got := s.Count(rcpt(0)); got != tt.wantCount {
				t.Errorf("server got %d messages, want %d", got, tt.wantCount)
			}
			if tt.wantConns != 0 && s.Connections() != tt.wantConns {
				t.Errorf("%d connections, want %d", s.Connections(), tt.wantConns)
			}
			if !tt.wantErr {
				if r.Err != nil {
					t.Fatalf("err %v", r.Err)
				}
				return
			}
			var se *SendError
			if !errors.As(r.Err, &se) {
				t.Fatalf("err %v (%T), want *SendError", r.Err, r.Err)
			}
			if se.Op != tt.wantOp || se.Code != tt.wantCode || se.Temporary != tt.wantTemp || se.Ambiguous != tt.wantAmbig {
				t.Errorf("got op=%s code=%d temp=%v ambiguous=%v, want op=%s code=%d temp=%v ambiguous=%v",
					se.Op, se.Code, se.Temporary, se.Ambiguous, tt.wantOp, tt.wantCode, tt.wantTemp, tt.wantAmbig)
			}
			if IsTemporary(r.Err) != tt.wantTemp || IsPermanent(r.Err) == tt.wantTemp {
				t.Errorf("IsTemporary=%v IsPermanent=%v", IsTemporary(r.Err), IsPermanent(r.Err))
			}
			if tt.wantCode == 550 && (se.Enhanced != "5.1.1" || se.Reply != "No such user here" || !strings.Contains(se.Error(), "No such user here")) {
				t.Errorf("enhanced %q reply %q error %q", se.Enhanced, se.Reply, se.Error())
			}
		})
	}
}

func TestServer421AfterNMessagesRedials(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithMaxPerConnection(3))
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1 })
	const n = 10
	for id, r := range deliverAll(t, m, n) {
		if r.Err != nil {
			t.Errorf("job %d: %v", id, r.Err)
		}
	}
	if s.Len() != n {
		t.Fatalf("accepted %d, want %d", s.Len(), n)
	}
	// 3 per connection: 4 connections carry 10 messages.
	if c := s.Connections(); c != 4 {
		t.Errorf("%d connections, want 4", c)
	}
	perConn := map[int]int{}
	for _, msg := range s.Messages() {
		perConn[msg.ConnID]++
	}
	for id, c := range perConn {
		if c > 3 {
			t.Errorf("connection %d carried %d messages", id, c)
		}
	}
}

func TestMaxPerConnectionRedials(t *testing.T) {
	tests := []struct {
		max, n, conc, wantConns int
	}{
		{max: 3, n: 10, conc: 1, wantConns: 4},
		{max: 0, n: 10, conc: 1, wantConns: 1},
		{max: 5, n: 10, conc: 1, wantConns: 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max%d", tt.max), func(t *testing.T) {
			s := smtptest.Start(t)
			m := newTestMailer(t, s, func(o *Options) { o.Concurrency = tt.conc; o.MaxPerConnection = tt.max })
			for id, r := range deliverAll(t, m, tt.n) {
				if r.Err != nil || r.Attempts != 1 {
					t.Errorf("job %d: %v attempts %d", id, r.Err, r.Attempts)
				}
			}
			if c := s.Connections(); c != tt.wantConns {
				t.Errorf("%d connections, want %d", c, tt.wantConns)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	s := smtptest.Start(t)
	const rate, n = 100.0, 21
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 4; o.Rate = rate })
	start := time.Now()
	for id, r := range deliverAll(t, m, n) {
		if r.Err != nil {
			t.Errorf("job %d: %v", id, r.Err)
		}
	}
	elapsed := time.Since(start)
	// Burst 1: n messages need at least (n-1)/rate seconds.
	if min := time.Duration(float64(n-1) / rate * float64(time.Second)); elapsed < min {
		t.Errorf("%d messages at %v/s took %v, less than %v", n, rate, elapsed, min)
	}
}

func TestCancelStopsDeliverCleanly(t *testing.T) {
	gate := make(chan struct{})
	inData := make(chan struct{}, 10)
	s := smtptest.Start(t,
		smtptest.WithDataHook(func(string, []string, int) error { inData <- struct{}{}; return nil }),
		smtptest.WithGate(func() <-chan struct{} { return gate }))
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 2 })
	const n = 20
	jobs := make(chan Job, n)
	for i := 0; i < n; i++ {
		jobs <- Job{ID: int64(i), Msg: testMessage(i)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	results := m.Deliver(ctx, jobs)
	<-inData
	<-inData // both workers are inside a transaction
	cancel()
	close(gate)
	var got []Result
	for r := range results { // closes: Deliver stopped
		got = append(got, r)
	}
	if len(got) != 2 {
		t.Fatalf("%d results after cancel, want the 2 in flight", len(got))
	}
	for _, r := range got {
		if r.Err != nil {
			t.Errorf("in-flight job %d: %v (it should finish)", r.ID, r.Err)
		}
	}
	if left := len(jobs); left != n-2 {
		t.Errorf("%d jobs left unread, want %d", left, n-2)
	}
	if s.Len() != 2 {
		t.Errorf("server accepted %d", s.Len())
	}
}

func TestSendWithAuthAndTLS(t *testing.T) {
	tests := []struct {
		name string
		opts []smtptest.Option
		tls  string
	}{
		{"starttls+auth", []smtptest.Option{smtptest.WithTLS(), smtptest.WithAuth("u", "secret")}, "starttls"},
		{"implicit tls+auth", []smtptest.Option{smtptest.WithImplicitTLS(), smtptest.WithAuth("u", "secret")}, "tls"},
		{"plain auth on localhost", []smtptest.Option{smtptest.WithAuth("u", "secret")}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smtptest.Start(t, tt.opts...)
			m := newTestMailer(t, s, func(o *Options) {
				o.TLS = tt.tls
				o.TLSConfig = s.ClientTLS()
				o.Username, o.Password = "u", "secret"
			})
			if err := m.Send(context.Background(), testMessage(7)); err != nil {
				t.Fatal(err)
			}
			if s.Count(rcpt(7)) != 1 {
				t.Fatal("not delivered")
			}
		})
	}
}

func TestStartTLSRequiredButNotOffered(t *testing.T) {
	s := smtptest.Start(t)
	m := newTestMailer(t, s, func(o *Options) { o.TLS = "starttls"; o.Retries = 3 })
	err := m.Send(context.Background(), testMessage(1))
	var se *SendError
	if !errors.As(err, &se) || se.Op != "dial" || IsPermanent(err) {
		t.Fatalf("err %v: want a temporary dial error (not the recipient's fault)", err)
	}
	// A server without STARTTLS will not grow it: no retries.
	if c := s.Connections(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
}

func TestBadPasswordStopsRunWithoutBlamingRecipients(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithAuth("u", "secret"))
	m := newTestMailer(t, s, func(o *Options) { o.Username, o.Password = "u", "wrong"; o.Retries = 5 })
	for id, r := range deliverAll(t, m, 6) {
		var se *SendError
		if !errors.As(r.Err, &se) || se.Op != "auth" || IsPermanent(r.Err) || se.Code != 535 {
			t.Errorf("job %d: %v", id, r.Err)
		}
		if r.Attempts > 1 {
			t.Errorf("job %d: %d attempts with a known-bad password", id, r.Attempts)
		}
	}
	// At most one failed login per worker, not one per job and retry.
	if c := s.Connections(); c > 2 {
		t.Errorf("%d connections", c)
	}
}

func TestBuild(t *testing.T) {
	m := newTestMailer(t, smtptest.Start(t), nil)
	base := testMessage(1)
	a, err := m.Build(base)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Build(testMessage(1))
	if !bytes.Equal(a, b) {
		t.Error("Build is not deterministic")
	}
	for _, line := range strings.Split(string(a), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d bytes", len(line))
		}
	}
	tests := []struct {
		name    string
		edit    func(*Message)
		wantErr bool
		check   func(*testing.T, mail.Header)
	}{
		{name: "http URL still writes both headers", edit: func(m *Message) {
			m.UnsubscribeURL = "http://127.0.0.1:8080/unsubscribe?token=x"
			m.UnsubscribeMailto = ""
		}, check: func(t *testing.T, h mail.Header) {
			if h.Get("List-Unsubscribe") != "<http://127.0.0.1:8080/unsubscribe?token=x>" || h.Get("List-Unsubscribe-Post") == "" {
				t.Errorf("List-Unsubscribe %q Post %q", h.Get("List-Unsubscribe"), h.Get("List-Unsubscribe-Post"))
			}
		}},
		{name: "long unsubscribe URL survives folding", edit: func(m *Message) {
			m.UnsubscribeURL = "https://news.example.org/unsubscribe?token=" + strings.Repeat("A1b2", 60)
		}, check: func(t *testing.T, h mail.Header) {
			want := "<https://news.example.org/unsubscribe?token=" + strings.Repeat("A1b2", 60) + ">, <mailto:unsubscribe@example.org?subject=tok2>"
			if got := h.Get("List-Unsubscribe"); got != want {
				t.Errorf("List-Unsubscribe %q", got)
			}
		}},
		{name: "mailto only has no one-click", edit: func(m *Message) { m.UnsubscribeURL = "" }, check: func(t *testing.T, h mail.Header) {
			if h.Get("List-Unsubscribe-Post") != "" || !strings.HasPrefix(h.Get("List-Unsubscribe"), "<mailto:") {
				t.Errorf("List-Unsubscribe %q Post %q", h.Get("List-Unsubscribe"), h.Get("List-Unsubscribe-Post"))
			}
		}},
		{name: "non-ASCII list name keeps the id readable", edit: func(m *Message) { m.ListID = "Die Übersicht <brief.example.org>" },
			check: func(t *testing.T, h mail.Header) {
				if v := h.Get("List-Id"); !strings.HasSuffix(v, " <brief.example.org>") || !strings.HasPrefix(v, "=?UTF-8?") {
					t.Errorf("List-Id %q", v)
				}
			}},
		{name: "text only", edit: func(m *Message) { m.HTML = nil }, check: func(t *testing.T, h mail.Header) {
			if !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
				t.Errorf("Content-Type %q", h.Get("Content-Type"))
			}
		}},
		{name: "ftp URL refused", edit: func(m *Message) { m.UnsubscribeURL = "ftp://x.example/u" }, wantErr: true},
		{name: "URL with > refused", edit: func(m *Message) { m.UnsubscribeURL = "https://x.example/u?t=a>b" }, wantErr: true},
		{name: "header injection refused", edit: func(m *Message) { m.Headers = map[string]string{"X-A": "a\r\nBcc: x@y"} }, wantErr: true},
		{name: "reserved header refused", edit: func(m *Message) { m.Headers = map[string]string{"Message-ID": "<x@y>"} }, wantErr: true},
		{name: "Message-ID with brackets refused", edit: func(m *Message) { m.MessageID = "<a@b>" }, wantErr: true},
		{name: "bad To refused", edit: func(m *Message) { m.To = "not an address" }, wantErr: true},
		{name: "no body refused", edit: func(m *Message) { m.HTML, m.Text = nil, nil }, wantErr: true},
		{name: "bad List-Id refused", edit: func(m *Message) { m.ListID = "no id here" }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := testMessage(2)
			tt.edit(msg)
			data, err := m.Build(msg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := mail.ReadMessage(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, parsed.Header)
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Port: 25},
		{Host: "h", Port: 0},
		{Host: "h", Port: 25, TLS: "ssl"},
		{Host: "h", Port: 25, Rate: -1},
		{Host: "h", Port: 25, DKIM: &DKIMOptions{Domain: "example.org"}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestSendErrorUnwrap(t *testing.T) {
	inner := errors.New("boom")
	var err error = &SendError{Op: "dial", Temporary: true, Err: inner}
	if !errors.Is(err, inner) || !IsTemporary(err) || IsPermanent(err) {
		t.Fatal("unwrap/classify")
	}
	if IsTemporary(nil) || IsPermanent(nil) || IsPermanent(inner) {
		t.Fatal("non-SendError classified")
	}
}

func TestSenderRefusedStopsRunWithoutBlamingRecipients(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithMailHook(func(string, int) error {
		return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "Sender domain has no SPF")
	}))
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1; o.Retries = 3 })
	got := deliverAll(t, m, 5)
	for id, r := range got {
		if IsPermanent(r.Err) || !IsTemporary(r.Err) {
			t.Errorf("job %d: %v, want temporary", id, r.Err)
		}
	}
	// The first job tried once; the rest were not tried at all.
	tried := 0
	for _, r := range got {
		tried += r.Attempts
	}
	if tried != 1 {
		t.Errorf("%d attempts in all, want 1", tried)
	}
}

func TestEnvelopeFromIsVERPAddress(t *testing.T) {
	s := smtptest.Start(t)
	m := newTestMailer(t, s, nil)
	msg := testMessage(4)
	msg.EnvelopeFrom = "bounces+sub-4@example.org"
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := s.Messages()
	if len(got) != 1 || got[0].From != "bounces+sub-4@example.org" {
		t.Fatalf("MAIL FROM %+v", got)
	}
}

func TestBuildFailures(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(i int, m *Message)
		wantTemp bool // caller's mistake: temporary, and the run stops
	}{
		{"bad To is that recipient's permanent failure", func(i int, m *Message) {
			if i == 2 {
				m.To = "no address"
			}
		}, false},
		{"bad List-Id stops the run", func(_ int, m *Message) { m.ListID = "nope" }, true},
		{"bad envelope sender stops the run", func(_ int, m *Message) { m.EnvelopeFrom = "Bounces <b@example.org>" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smtptest.Start(t)
			m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1 })
			jobs := make(chan Job, 5)
			for i := 0; i < 5; i++ {
				msg := testMessage(i)
				tt.edit(i, msg)
				jobs <- Job{ID: int64(i), Msg: msg}
			}
			close(jobs)
			failed := 0
			for r := range m.Deliver(context.Background(), jobs) {
				if r.Err == nil {
					continue
				}
				failed++
				var se *SendError
				if !errors.As(r.Err, &se) || se.Op != "build" || se.Temporary != tt.wantTemp || r.Attempts != 0 {
					t.Errorf("job %d: %v attempts %d", r.ID, r.Err, r.Attempts)
				}
				if strings.Count(se.Error(), "mailer:") != 1 {
					t.Errorf("error %q", se.Error())
				}
			}
			if tt.wantTemp && failed != 5 || !tt.wantTemp && (failed != 1 || s.Len() != 4) {
				t.Errorf("%d failed, server got %d", failed, s.Len())
			}
		})
	}
}

func TestBodyCannotForgeBoundaryOrEndOfData(t *testing.T) {
	msg := testMessage(5)
	b := boundary(Template{From: msg.From, Subject: msg.Subject, ListID: msg.ListID,
		Text: []Segment{{Text: msg.Text}}, HTML: []Segment{{Text: msg.HTML}}})
	// Lines that would end the part, or the whole DATA, if written as they are.
	evil := "\n--" + b + "\n--" + b + "--\n.\nFrom me\n-- \n"
	msg.Text = append(msg.Text, evil...)
	msg.HTML = append(msg.HTML, evil...)
	s := smtptest.Start(t)
	m := newTestMailer(t, s, nil)
	data, err := m.Build(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\r\n") {
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "From ") {
			t.Errorf("line %q", line)
		}
	}
	checkAlternative(t, data, "Hello reader 5.")
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := s.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	checkAlternative(t, got[0].Data, strings.ReplaceAll(evil, "\n", "\r\n"))
}

func TestRetryDoesNotHoldUpOthers(t *testing.T) {
	greylist := smtpErr(451, gosmtp.EnhancedCode{4, 7, 1}, "Greylisted")
	s := smtptest.Start(t, smtptest.WithRcptHook(func(_, to string, n int) error {
		if to == rcpt(0) && n == 1 {
			return greylist
		}
		return nil
	}))
	m := newTestMailer(t, s, func(o *Options) {
		o.Concurrency = 1
		o.RetryBackoff, o.MaxBackoff = 600*time.Millisecond, 600*time.Millisecond
	})
	got := deliverAll(t, m, 10)
	if r := got[0]; r.Err != nil || r.Attempts != 2 {
		t.Fatalf("greylisted job: %v attempts %d", r.Err, r.Attempts)
	}
	msgs := s.Messages()
	if len(msgs) != 10 || msgs[9].To[0] != rcpt(0) {
		t.Fatalf("the greylisted message should arrive last, after the other 9 (got %d messages)", len(msgs))
	}
}

func TestCancelReportsWaitingRetries(t *testing.T) {
	tried := make(chan struct{}, 1)
	s := smtptest.Start(t, smtptest.WithRcptHook(func(string, string, int) error {
		select {
		case tried <- struct{}{}:
		default:
		}
		return smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "Later")
	}))
	m := newTestMailer(t, s, func(o *Options) {
		o.Concurrency = 1
		o.RetryBackoff, o.MaxBackoff = time.Hour, time.Hour
	})
	jobs := make(chan Job, 1)
	jobs <- Job{ID: 7, Msg: testMessage(7)}
	ctx, cancel := context.WithCancel(context.Background())
	results := m.Deliver(ctx, jobs)
	<-tried
	cancel()
	var got []Result
	for r := range results {
		got = append(got, r)
	}
	if len(got) != 1 || got[0].ID != 7 || !IsTemporary(got[0].Err) || got[0].Attempts != 1 {
		t.Fatalf("results %+v", got)
	}
}

func TestTimeoutClosingDataIsPossiblySent(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithDelay(time.Minute)) // Close releases it
	m := newTestMailer(t, s, func(o *Options) { o.Timeout = 200 * time.Millisecond; o.Retries = 3 })
	err := m.Send(context.Background(), testMessage(1))
	var se *SendError
	if !errors.As(err, &se) || se.Op != "close" || !se.Ambiguous || !se.Temporary {
		t.Fatalf("err %v, want an ambiguous timeout at close", err)
	}
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err %v does not unwrap to a timeout", err)
	}
	if s.Connections() != 1 {
		t.Errorf("%d connections: an ambiguous failure must not be retried", s.Connections())
	}
}

func TestConnectionRefusedIsRetriedAndTemporary(t *testing.T) {
	s, err := smtptest.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // nothing listens on the port now
	m := newTestMailer(t, s, func(o *Options) { o.Concurrency = 1; o.Retries = 2 })
	r := deliverAll(t, m, 1)[0]
	var se *SendError
	if !errors.As(r.Err, &se) || se.Op != "dial" || !se.Temporary || se.Ambiguous || r.Attempts != 3 {
		t.Fatalf("err %v attempts %d", r.Err, r.Attempts)
	}
}
