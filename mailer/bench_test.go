package mailer

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

const benchConns = 4

// benchMessage is digest-sized: ~40 KB of HTML and ~8 KB of text.
func benchMessage(i int) *Message {
	m := testMessage(i)
	var h, t strings.Builder
	h.WriteString("<html><body>")
	for j := 0; h.Len() < 40<<10; j++ {
		fmt.Fprintf(&h, `<tr><td style="padding:8px;font-family:Georgia,serif"><a href="https://news.example.org/a/%d">Story %d about the region</a><p>A summary of the story, long enough to look like one, with “quotes” and ünïcode.</p></td></tr>`, j, j)
	}
	h.WriteString("</body></html>")
	for j := 0; t.Len() < 8<<10; j++ {
		fmt.Fprintf(&t, "Story %d about the region\nhttps://news.example.org/a/%d\nA summary of the story, with “quotes”.\n\n", j, j)
	}
	m.HTML, m.Text = []byte(h.String()), []byte(t.String())
	return m
}

func benchServer(b *testing.B) *smtptest.Server {
	return smtptest.Start(b, smtptest.WithDiscard())
}

// deliverBatch sends the messages with Deliver and returns how long it took.
func deliverBatch(b *testing.B, m *Mailer, msgs []Mail) time.Duration {
	jobs := make(chan Job, len(msgs))
	for i, msg := range msgs {
		jobs <- Job{ID: int64(i), Msg: msg}
	}
	close(jobs)
	start := time.Now()
	for r := range m.Deliver(context.Background(), jobs) {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	return time.Since(start)
}

// rawBatch is the baseline: the fastest plain go-mail loop, one client per
// connection sending the same pre-built bytes with MAIL, RCPT and DATA
// (no rebuilding, no RSET, no NOOP), connections reused.
func rawBatch(b *testing.B, s *smtptest.Server, msgs []*Message) time.Duration {
	raw, err := (&Mailer{}).Build(msgs[0])
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, benchConns)
	for w := 0; w < benchConns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := gomail.NewClient(s.Host, gomail.WithPort(s.Port), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithTimeout(5*time.Second))
			if err != nil {
				errs <- err
				return
			}
			sc, err := c.DialToSMTPClientWithContext(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer c.CloseWithSMTPClient(sc)
			for i := w; i < len(msgs); i += benchConns {
				err := sc.UpdateDeadline(5 * time.Second)
				if err == nil {
					err = sc.Mail("<brief@example.org>")
				}
				if err == nil {
					err = sc.Rcpt("<" + rcpt(i) + ">")
				}
				var wc io.WriteCloser
				if err == nil {
					wc, err = sc.Data()
				}
				if err == nil {
					_, err = wc.Write(raw)
					if cerr := wc.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return time.Since(start)
}

func benchMessages(n int) []*Message {
	msgs := make([]*Message, n)
	tmpl := benchMessage(0)
	for i := range msgs {
		m := *tmpl
		m.To = rcpt(i)
		m.MessageID = fmt.Sprintf("issue-12.sub-%d@example.org", i)
		m.UnsubscribeURL = fmt.Sprintf("https://news.example.org/unsubscribe?token=tok%d", i)
		msgs[i] = &m
	}
	return msgs
}

// benchCopies are the same messages as copies of one layout, the way a
// newsletter is sent: the unsubscribe link is a slot in both parts.
func benchCopies(b *testing.B, msgs []*Message) []Mail {
	m := msgs[0]
	l, err := NewLayout(Template{From: m.From, ReplyTo: m.ReplyTo, Subject: m.Subject, Date: m.Date, ListID: m.ListID, Headers: m.Headers,
		Text: []Segment{{Text: m.Text, Slot: 1}, {Text: []byte("\n")}},
		HTML: []Segment{{Text: m.HTML, Slot: 1}, {Text: []byte("</p>")}}})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]Mail, len(msgs))
	for i, m := range msgs {
		out[i] = &Copy{Layout: l, To: m.To, MessageID: m.MessageID, UnsubscribeURL: m.UnsubscribeURL, UnsubscribeMailto: m.UnsubscribeMailto,
			Text: []string{"", m.UnsubscribeURL}, HTML: []string{"", m.UnsubscribeURL}}
	}
	return out
}

func benchMailer(b *testing.B, s *smtptest.Server) *Mailer {
	return newTestMailer(b, s, func(o *Options) { o.Concurrency = benchConns; o.MaxPerConnection = 0 })
}

// BenchmarkDeliver: copies of one layout through Deliver over benchConns
// connections.
func BenchmarkDeliver(b *testing.B) {
	s := benchServer(b)
	m := benchMailer(b, s)
	msgs := benchMessages(b.N)
	b.ResetTimer()
	d := deliverBatch(b, m, benchCopies(b, msgs))
	b.ReportMetric(float64(b.N)/d.Seconds(), "msgs/s")
}

// BenchmarkRawGoMail: the same number of messages of the same size, pre-built,
// with the raw go-mail loop over the same number of connections to the same
// kind of server.
func BenchmarkRawGoMail(b *testing.B) {
	s := benchServer(b)
	msgs := benchMessages(b.N)
	b.ResetTimer()
	d := rawBatch(b, s, msgs)
	b.ReportMetric(float64(b.N)/d.Seconds(), "msgs/s")
}

// BenchmarkDeliverVsRaw alternates batches of both on one server and reports
// Deliver's throughput as a ratio of the raw loop's (target >= 0.9). The
// ratio is the median over pairs of batches run back to back (order
// alternating), so a burst of load on the shared machine skews one pair,
// not the result.
func BenchmarkDeliverVsRaw(b *testing.B) {
	const batch = 100
	s := benchServer(b)
	m := benchMailer(b, s)
	msgs := benchMessages(batch)
	copies := benchCopies(b, msgs)
	var raw, ours time.Duration
	ratios := make([]float64, 0, b.N)
	for i := 0; i < b.N; i++ {
		var r, o time.Duration
		if i%2 == 0 {
			r = rawBatch(b, s, msgs)
			o = deliverBatch(b, m, copies)
		} else {
			o = deliverBatch(b, m, copies)
			r = rawBatch(b, s, msgs)
		}
		raw += r
		ours += o
		ratios = append(ratios, r.Seconds()/o.Seconds())
	}
	sort.Float64s(ratios)
	b.ReportMetric(float64(b.N*batch)/raw.Seconds(), "raw-msgs/s")
	b.ReportMetric(float64(b.N*batch)/ours.Seconds(), "deliver-msgs/s")
	b.ReportMetric(raw.Seconds()/ours.Seconds(), "total-ratio")
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}

// BenchmarkBuild is the per-message cost of building (and signing nothing).
func BenchmarkBuild(b *testing.B) {
	m := newTestMailer(b, benchServer(b), nil)
	msg := benchMessage(1)
	b.SetBytes(int64(len(msg.HTML) + len(msg.Text)))
	for i := 0; i < b.N; i++ {
		if _, err := m.Build(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildDKIM is Build plus signing, per key type.
func BenchmarkBuildDKIM(b *testing.B) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []struct {
		name   string
		signer crypto.Signer
	}{{"rsa2048", rsaKey}, {"ed25519", edKey}} {
		b.Run(k.name, func(b *testing.B) {
			m := newTestMailer(b, benchServer(b), func(o *Options) {
				o.DKIM = &DKIMOptions{Domain: "example.org", Selector: "s", Signer: k.signer}
			})
			msg := benchMessage(1)
			for i := 0; i < b.N; i++ {
				if _, err := m.Build(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
