package mailer_test

import (
	"context"
	"fmt"
	"html"
	"time"

	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/mailer"
)

func ExampleMailer_Deliver() {
	srv, err := smtptest.Listen("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	m, err := mailer.New(mailer.Options{
		Host: srv.Host, Port: srv.Port, TLS: "none",
		Concurrency: 2, Rate: 0, Timeout: 5 * time.Second, MaxPerConnection: 100,
		Retries: 3, RetryBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	jobs := make(chan mailer.Job)
	go func() {
		defer close(jobs)
		for i := 1; i <= 3; i++ {
			jobs <- mailer.Job{ID: int64(i), Msg: &mailer.Message{
				From:           "The Brief <brief@example.org>",
				To:             fmt.Sprintf("reader%d@example.net", i),
				Subject:        "The Brief, issue 12",
				MessageID:      fmt.Sprintf("issue-12.sub-%d@example.org", i),
				Text:           []byte("Hello.\n"),
				HTML:           []byte("<p>Hello.</p>"),
				ListID:         "The Brief <brief.example.org>",
				UnsubscribeURL: fmt.Sprintf("https://news.example.org/unsubscribe?token=t%d", i),
			}}
		}
	}()
	var sent, temporary, permanent int
	for r := range m.Deliver(context.Background(), jobs) {
		switch {
		case r.Err == nil:
			sent++ // mark the ledger row sent
		case mailer.IsTemporary(r.Err):
			temporary++ // leave pending for the next run (check SendError.Ambiguous: possibly sent)
		case mailer.IsPermanent(r.Err):
			permanent++ // failed for good; counts toward suppressing the address
		}
	}
	fmt.Println("sent", sent, "temporary", temporary, "permanent", permanent)
	// Output: sent 3 temporary 0 permanent 0
}

// A newsletter issue is laid out once and each recipient gets a Copy: only
// their headers and slot values are encoded per message.
func ExampleNewLayout() {
	srv, err := smtptest.Listen("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	m, err := mailer.New(mailer.Options{Host: srv.Host, Port: srv.Port, TLS: "none", Concurrency: 2, Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	const name, unsubscribe = 1, 2 // slot numbers
	layout, err := mailer.NewLayout(mailer.Template{
		From:    "The Brief <brief@example.org>",
		Subject: "The Brief, issue 12",
		ListID:  "The Brief <brief.example.org>",
		Text:    []mailer.Segment{{Text: []byte("Hello "), Slot: name}, {Text: []byte(".\nUnsubscribe: "), Slot: unsubscribe}, {}},
		HTML:    []mailer.Segment{{Text: []byte("<p>Hello "), Slot: name}, {Text: []byte(`.</p><a href="`), Slot: unsubscribe}, {Text: []byte(`">Unsubscribe</a>`)}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	jobs := make(chan mailer.Job)
	go func() {
		defer close(jobs)
		for i, reader := range []string{"Ana", "Ben & Co"} {
			unsub := fmt.Sprintf("https://news.example.org/unsubscribe?token=t%d", i)
			jobs <- mailer.Job{ID: int64(i), Msg: &mailer.Copy{
				Layout:         layout,
				To:             fmt.Sprintf("%s <reader%d@example.net>", reader, i),
				MessageID:      fmt.Sprintf("issue-12.sub-%d@example.org", i),
				UnsubscribeURL: unsub,
				Text:           []string{name: reader, unsubscribe: unsub},
				HTML:           []string{name: html.EscapeString(reader), unsubscribe: html.EscapeString(unsub)},
			}}
		}
	}()
	sent := 0
	for r := range m.Deliver(context.Background(), jobs) {
		if r.Err == nil {
			sent++
		}
	}
	fmt.Println("sent", sent)
	// Output: sent 2
}
