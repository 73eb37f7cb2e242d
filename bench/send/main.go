// Command send measures delivery throughput and dry-run memory, each
// against a baseline measured in the same run:
//
//   - digest's delivery engine (ledger, group-committed marks, per-recipient
//     personalisation) sending to N subscribers, against a raw go-mail loop
//     sending one pre-rendered message over the same number of connections
//     to the same in-process SMTP server;
//   - `digest send --dry-run` (the real binary, built here) over 100k and 1M
//     subscribers: wall time and peak RSS of the child process.
//
// Usage: go run ./bench/send [-n 20000] [-conc 4] [-dryrun 100000,1000000]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/pipeline"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/smtptest"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/mailer"
	"github.com/digest-newsletter/digest/subscribers"
)

func main() {
	n := flag.Int("n", 20000, "subscribers for the throughput comparison")
	conc := flag.Int("conc", 4, "SMTP connections")
	dry := flag.String("dryrun", "100000,1000000", "subscriber counts for the dry-run memory check (empty: skip)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the digest send to this file")
	flag.Parse()
	profile = *cpuprofile
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "digest-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := smtptest.Listen("127.0.0.1:0", smtptest.WithDiscard())
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cfgPath := writeConfig(dir, srv, *conc)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		log.Fatal(err)
	}

	fmt.Printf("throughput: %d subscribers, %d connections, in-process SMTP server\n", *n, *conc)
	st := seed(ctx, cfg, *n)
	digestRate := sendWithDigest(ctx, cfg, st, srv, *n)
	st.Close()
	rawRate := rawGoMail(ctx, cfg, srv, *n, *conc)
	fmt.Printf("  digest send : %8.0f msg/s\n", digestRate)
	fmt.Printf("  raw go-mail : %8.0f msg/s\n", rawRate)
	fmt.Printf("  ratio       : %.2f (target >= 0.90)\n\n", digestRate/rawRate)

	if *dry == "" {
		return
	}
	bin := filepath.Join(dir, "digest")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/digest").CombinedOutput(); err != nil {
		log.Fatalf("go build: %v\n%s", err, out)
	}
	fmt.Println("dry run (real binary): time and peak RSS")
	var base float64
	for _, f := range strings.Split(*dry, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			log.Fatal(err)
		}
		dcfg := filepath.Join(dir, fmt.Sprintf("dry-%d", size))
		os.MkdirAll(dcfg, 0o755)
		p := writeConfig(dcfg, srv, *conc)
		c, _ := config.Load(p)
		s := seed(ctx, c, size)
		s.Close()
		start := time.Now()
		cmd := exec.Command(bin, "--config", p, "--log-level", "warn", "send", "--dry-run")
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("dry run: %v", err)
		}
		secs := time.Since(start).Seconds()
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		perM := secs / float64(size) * 1e6
		if base == 0 {
			base = perM
		}
		fmt.Printf("  %8d subscribers: %6.1fs (%5.1f µs/subscriber, %.2fx the first size's), peak RSS %5.1f MB (target <= 64)\n",
			size, secs, perM, perM/base, float64(ru.Maxrss)/1024)
	}
}

// profile names the CPU profile file; set once from the flag in main.
var profile string

func writeConfig(dir string, srv *smtptest.Server, conc int) string {
	articles, _ := filepath.Abs("examples/articles")
	src := fmt.Sprintf(`
[newsletter]
title = "Bench Brief"
from = "Bench Brief <brief@example.org>"
base_url = "https://news.example.org"
postal_address = "1 Bench Street"
window = "87600h"
[[editions]]
name = "weekly"
schedule = "@weekly"
[[sources]]
name = "Local notes"
path = %q
[[topics]]
name = "Economy"
keywords = ["port", "inflation"]
[smtp]
host = %q
port = %d
tls = "none"
concurrency = %d
max_per_connection = 100000
[store]
path = %q
`, articles, srv.Host, srv.Port, conc, filepath.Join(dir, "bench.db"))
	p := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		log.Fatal(err)
	}
	return p
}

func seed(ctx context.Context, cfg *config.Config, n int) *store.DB {
	st, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		log.Fatal(err)
	}
	i := 0
	start := time.Now()
	_, err = st.Import(ctx, func() (store.Subscriber, bool, error) {
		if i >= n {
			return store.Subscriber{}, false, nil
		}
		i++
		s := store.Subscriber{Email: fmt.Sprintf("reader%07d@example.net", i), Name: fmt.Sprintf("Reader %d", i)}
		if i%3 == 0 {
			s.Topics = []string{"Economy"}
		}
		return s, true, nil
	}, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("  (imported %d subscribers in %.1fs)\n", n, time.Since(start).Seconds())
	return st
}

func sendWithDigest(ctx context.Context, cfg *config.Config, st *store.DB, srv *smtptest.Server, n int) float64 {
	log := slog.New(slog.DiscardHandler)
	m, err := mailer.New(mailer.OptionsFrom(cfg.SMTP, cfg.Delivery, nil, log))
	if err != nil {
		panic(err)
	}
	r, err := render.New(render.Options{Newsletter: cfg.Newsletter, Theme: cfg.Theme})
	if err != nil {
		panic(err)
	}
	tokens, _ := subscribers.NewTokens([]byte("bench-secret-0123456789"), nil)
	nl := cfg.Newsletter
	s := delivery.New(delivery.Options{
		Editions:   []delivery.Edition{{Name: cfg.Editions[0].Name, SkipEmpty: cfg.Editions[0].SkipEmpty()}},
		Newsletter: delivery.Newsletter{From: nl.From, BaseURL: nl.BaseURL, ListID: delivery.ListID(nl.Title, nl.From, nl.ListID)},
		Window:     nl.Window, Concurrency: cfg.SMTP.Concurrency, MarkBatch: cfg.Delivery.MarkBatch,
		Store: st, Mailer: m, Renderer: r, Tokens: tokens, Logger: log,
		Build: func(ctx context.Context, from, to time.Time, seen func(string) bool) (*digest.Digest, error) {
			return pipeline.Build(ctx, cfg, pipeline.Options{From: from, To: to}), nil
		},
	})
	before := srv.Len()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			panic(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	sum, err := s.Send(ctx, delivery.SendOptions{})
	if err != nil {
		panic(err)
	}
	secs := time.Since(start).Seconds()
	if sum.Sent != n || srv.Len()-before != n {
		panic(fmt.Sprintf("digest sent %d, server got %d, want %d", sum.Sent, srv.Len()-before, n))
	}
	return float64(n) / secs
}

// rawGoMail is the baseline: one pre-rendered message of the same size,
// sent with go-mail over conc reused connections, no ledger.
func rawGoMail(ctx context.Context, cfg *config.Config, srv *smtptest.Server, n, conc int) float64 {
	html := bytes.Repeat([]byte("<p>digest body</p>\n"), 400)
	text := bytes.Repeat([]byte("digest body\n"), 300)
	before := srv.Len()
	start := time.Now()
	var wg sync.WaitGroup
	per := n / conc
	for w := range conc {
		count := per
		if w == conc-1 {
			count = n - per*(conc-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gomail.NewClient(cfg.SMTP.Host, gomail.WithPort(cfg.SMTP.Port), gomail.WithTLSPolicy(gomail.NoTLS))
			if err != nil {
				panic(err)
			}
			sc, err := c.DialToSMTPClientWithContext(ctx)
			if err != nil {
				panic(err)
			}
			defer c.CloseWithSMTPClient(sc)
			for i := range count {
				msg := gomail.NewMsg()
				msg.From("brief@example.org")
				msg.To(fmt.Sprintf("raw%d-%d@example.net", w, i))
				msg.Subject("Bench Brief")
				msg.SetBodyString(gomail.TypeTextPlain, string(text))
				msg.AddAlternativeString(gomail.TypeTextHTML, string(html))
				if err := c.SendWithSMTPClient(sc, msg); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if srv.Len()-before != n {
		panic("raw loop lost messages")
	}
	return float64(n) / secs
}
