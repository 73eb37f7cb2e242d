// Command signup measures whether POST /subscribe tells known addresses
// from unknown ones by its timing: the median answer time of the real
// handlers (real SQLite store, real outbox worker, real mailer) for a
// confirmed address against new addresses, 20 each (interleaved), with the
// SMTP server slow (every message held -delay before it is accepted) and
// with it down (nothing listening). The baseline is the unknown address in
// the same run; the figure is the ratio and the difference of the medians.
//
// Usage: go run ./bench/signup [-n 20] [-delay 300ms]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/links"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/outbox"
	"github.com/digest-newsletter/digest/subscribers"
)

func main() {
	n := flag.Int("n", 20, "requests per kind of address")
	delay := flag.Duration("delay", 300*time.Millisecond, "how long the slow SMTP server holds each message")
	flag.Parse()
	fmt.Printf("POST /subscribe, median of %d each, known (confirmed) vs unknown address\n", *n)
	fmt.Printf("%-10s %12s %12s %10s %10s\n", "SMTP", "known", "unknown", "diff", "ratio")

	slow, err := smtptest.Listen("127.0.0.1:0", smtptest.WithDelay(*delay))
	if err != nil {
		log.Fatal(err)
	}
	defer slow.Close()
	measure(fmt.Sprintf("slow %v", *delay), slow.Host, slow.Port, *n)

	down, err := smtptest.Listen("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	down.Close()
	measure("down", down.Host, down.Port, *n)
}

func measure(label, host string, port, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "signup-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, filepath.Join(dir, "digest.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	cfg := config.Default()
	nl := cfg.Newsletter
	nl.Title, nl.From, nl.BaseURL = "Bench Brief", "Bench Brief <brief@example.org>", "https://news.example.org"
	m, err := mailer.New(mailer.Options{Host: host, Port: port, TLS: "none", Concurrency: 1, Timeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	w, err := outbox.New(outbox.Options{Store: db, Sender: m, Holder: "bench"})
	if err != nil {
		log.Fatal(err)
	}
	go w.Run(ctx) // as digest serve does: the worker sends while we measure
	r, err := render.New(render.Options{Newsletter: nl, Theme: cfg.Theme})
	if err != nil {
		log.Fatal(err)
	}
	signer, _ := links.NewSigner([]byte("bench-secret-0123456789"), nil)
	lb, _ := links.NewBuilder(nl.BaseURL, signer)
	srv := cfg.Server
	srv.RatePerIP = 1 << 30
	svc, err := subscribers.NewService(subscribers.ServiceOptions{Store: db, Links: lb, Renderer: r, Outbox: w, Newsletter: nl, Server: srv})
	if err != nil {
		log.Fatal(err)
	}
	web := httptest.NewServer(subscribers.NewHandler(svc))
	defer web.Close()
	const known = "known@example.org"
	if _, _, err := svc.Roster().Add(ctx, subscribers.AddRequest{Email: known}); err != nil {
		log.Fatal(err)
	}
	post := func(email string) time.Duration {
		start := time.Now()
		resp, err := web.Client().PostForm(web.URL+"/subscribe", url.Values{"email": {email}})
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			log.Fatalf("%s: %s", email, resp.Status)
		}
		return d
	}
	for i := range 5 { // warm up connections and statement caches
		post(known)
		post(fmt.Sprintf("warm%d@example.org", i))
	}
	var k, u []time.Duration
	for i := range n {
		k = append(k, post(known))
		u = append(u, post(fmt.Sprintf("new%03d@example.org", i)))
	}
	mk, mu := median(k), median(u)
	fmt.Printf("%-10s %12v %12v %10v %10.2f\n", label, mk.Round(time.Microsecond), mu.Round(time.Microsecond),
		(mk - mu).Round(time.Microsecond), float64(mk)/float64(mu))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
