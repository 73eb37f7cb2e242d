package mailer_test

import (
	"context"
	"fmt"
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
