package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/subscribers"
)

const e2eAddr = "ada@example.net"

// TestSubscribeToUnsubscribeEndToEnd walks the whole life of a subscriber
// through the real handlers, the real delivery engine and a real SMTP
// server: subscribe → confirmation mail → follow the link → the next send
// reaches the address with only the chosen topic → one-click unsubscribe →
// the following send does not.
func TestSubscribeToUnsubscribeEndToEnd(t *testing.T) {
	ctx := context.Background()
	srv := smtptest.Start(t)
	dir := t.TempDir()
	articles := filepath.Join(dir, "articles")
	os.MkdirAll(articles, 0o755)
	now := time.Now().UTC()
	writeArticle := func(name, title, body string, age time.Duration) {
		src := fmt.Sprintf("+++\ntitle = %q\ndate = %s\nurl = \"https://news.example/%s\"\n+++\n\n%s\n", title, now.Add(-age).Format(time.RFC3339), name, body)
		if err := os.WriteFile(filepath.Join(articles, name+".md"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeArticle("patrols", "Night patrols on the coast road", "Police patrols were doubled on the coast road.", 3*time.Hour)
	writeArticle("port", "Port budget approved", "The port budget passed the council.", 2*time.Hour)

	cfgPath := filepath.Join(dir, "config.toml")
	cfgSrc := fmt.Sprintf(`
[newsletter]
title = "E2E Brief"
from = "E2E Brief <brief@example.org>"
base_url = "https://news.example.org"
window = "48h"
[[editions]]
name = "weekly"
schedule = "@weekly"
[[sources]]
name = "Notes"
path = %q
[[topics]]
name = "Security"
keywords = ["patrols", "police"]
[[topics]]
name = "Economy"
keywords = ["port", "budget"]
[stories]
top_stories = 0
[smtp]
host = %q
port = %d
tls = "none"
[store]
path = %q
`, articles, srv.Host, srv.Port, filepath.Join(dir, "digest.db"))
	os.WriteFile(cfgPath, []byte(cfgSrc), 0o644)
	t.Setenv("DIGEST_SECRET", "e2e-secret-0123456789abcdef")

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, mailWorker, err := newWebService(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	go mailWorker.Run(workerCtx)
	web := httptest.NewServer(subscribers.NewHandler(svc))
	defer web.Close()
	// Links in mail point at base_url; follow them to the test server.
	local := func(link string) string {
		return strings.Replace(link, cfg.Newsletter.BaseURL, web.URL, 1)
	}

	// 1. Subscribe to Economy only.
	resp, err := http.PostForm(web.URL+"/subscribe", url.Values{"email": {e2eAddr}, "name": {"Ada"}, "topics": {"Economy"}, "edition": {"weekly"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %s", resp.Status)
	}

	// 2. The confirmation mail arrives and carries the link.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.WaitFor(wctx, 1); err != nil {
		t.Fatal(err)
	}
	confirm := regexp.MustCompile(`https://news\.example\.org/confirm\?token=[a-z0-9]+`).FindString(bodyText(t, srv.Messages()[0].Data))
	if confirm == "" {
		t.Fatalf("no confirm link in:\n%s", srv.Messages()[0].Data)
	}

	// 3. Following it shows a button; pressing it confirms.
	confirmLink := func(link string) {
		t.Helper()
		resp, err := http.Get(local(link))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("confirm page: %s", resp.Status)
		}
		u, _ := url.Parse(link)
		resp, err = http.PostForm(web.URL+"/confirm", url.Values{"token": {u.Query().Get("token")}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("confirm: %s", resp.Status)
		}
	}
	confirmLink(confirm)

	// 4. The next send reaches the address with only Economy.
	send := func() string {
		var out, errb bytes.Buffer
		if code := run(ctx, []string{"--config", cfgPath, "send", "--no-progress"}, &out, &errb); code != 0 {
			t.Fatalf("send exit %d: %s", code, errb.String())
		}
		return out.String()
	}
	send()
	var digestMsg *smtptest.Message
	for _, m := range srv.Messages() {
		if m.To[0] == e2eAddr && m.Header.Get("List-Unsubscribe") != "" {
			digestMsg = &m
		}
	}
	if digestMsg == nil {
		t.Fatal("the digest did not reach the subscriber")
	}
	body := bodyText(t, digestMsg.Data)
	if !strings.Contains(body, "Port budget approved") || strings.Contains(body, "Night patrols") {
		t.Fatalf("digest does not carry only the chosen topic:\n%s", body)
	}

	// 5. One-click unsubscribe, exactly as a mail client does it.
	lu := strings.Trim(strings.SplitN(digestMsg.Header.Get("List-Unsubscribe"), ",", 2)[0], "<> ")
	resp, err = http.Post(local(lu), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click: %s", resp.Status)
	}

	// 6. A new article, a new issue: the address gets nothing more.
	writeArticle("port2", "Port dredging begins", "Dredging in the port began.", time.Hour)
	writeArticle("patrols2", "Harbour patrols extended", "The police extend night patrols to the harbour.", time.Hour)
	before := srv.Count(e2eAddr)
	out := send()
	if srv.Count(e2eAddr) != before {
		t.Fatalf("unsubscribed address got another digest; send said:\n%s", out)
	}

	// 7. A new reader of Security only confirms and is welcomed with the
	// latest issue, for their topics and with their own links.
	const late = "late@example.org"
	resp, err = http.PostForm(web.URL+"/subscribe", url.Values{"email": {late}, "name": {"Lee"}, "topics": {"Security"}, "edition": {"weekly"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	n := srv.Len()
	if err := srv.WaitFor(wctx, n+1); err != nil && srv.Count(late) == 0 {
		t.Fatal(err)
	}
	var lateConfirm string
	for _, m := range srv.Messages() {
		if m.To[0] == late {
			lateConfirm = regexp.MustCompile(`https://news\.example\.org/confirm\?token=[a-z0-9]+`).FindString(bodyText(t, m.Data))
		}
	}
	n = srv.Len()
	confirmLink(lateConfirm)
	wctx2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := srv.WaitFor(wctx2, n+1); err != nil {
		ms, _ := st.OutboxMails(ctx, "")
		for _, m := range ms {
			t.Logf("outbox %d %s %s %q", m.ID, m.Kind, m.Status, m.Error)
		}
		t.Fatalf("no welcome mail: %v", err)
	}
	welcome := srv.Messages()[srv.Len()-1]
	wb := bodyText(t, welcome.Data)
	subject, _ := new(mime.WordDecoder).DecodeHeader(welcome.Header.Get("Subject"))
	if welcome.To[0] != late || !strings.HasPrefix(subject, "Welcome! ") ||
		!strings.Contains(wb, "Harbour patrols extended") || strings.Contains(wb, "Port dredging") || strings.Contains(wb, "Night patrols") {
		t.Fatalf("welcome mail to %v, subject %q:\n%s", welcome.To, welcome.Header.Get("Subject"), wb)
	}
	lateSub, err := st.SubscriberByEmail(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	wu := strings.Trim(strings.SplitN(welcome.Header.Get("List-Unsubscribe"), ",", 2)[0], "<> ")
	wt, _ := url.Parse(wu)
	if id, err := svc.VerifyLink(ctx, wt.Query().Get("token")); err != nil || id != lateSub.ID {
		t.Fatalf("welcome unsubscribe link names %d (%v), want %d", id, err, lateSub.ID)
	}
}

// bodyText decodes every text part of a message (quoted-printable, base64).
func bodyText(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(h func(string) string, r io.Reader)
	walk = func(h func(string) string, r io.Reader) {
		mt, params, _ := mime.ParseMediaType(h("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(r, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header.Get, p)
			}
		}
		data, _ := io.ReadAll(r)
		switch strings.ToLower(h("Content-Transfer-Encoding")) {
		case "quoted-printable":
			data, _ = io.ReadAll(qpReader(data))
		case "base64":
			data, _ = io.ReadAll(b64Reader(data))
		}
		b.Write(data)
	}
	walk(m.Header.Get, m.Body)
	return b.String()
}
