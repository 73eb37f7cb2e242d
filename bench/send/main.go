// Command send measures how fast digest sends, against the strongest
// baseline we know, measured in the same run:
//
//   - digest: the whole `digest send` (the real binary, built here, as a
//     child process): collect, render, freeze the issue with its ledger of
//     -n rows in a real SQLite store, personalise every message (name,
//     address, unsubscribe and preferences links, headers) and send it,
//     marking the ledger as it goes;
//   - raw: the plain go-mail loop (also a child process, this program run
//     again): one pre-built message of the same size (a digest message
//     written by `digest send --dry-run --out`) sent with MAIL, RCPT and DATA
//     on go-mail smtp.Clients, connections reused, no ledger, no
//     personalisation, no RSET;
//
// both at the same concurrency against the same server: Postfix's smtp-sink
// (started here on a free port when /usr/sbin/smtp-sink or one on PATH
// exists; the report says when it is missing) and the in-process go-smtp
// server (internal/smtptest). Each row reports msg/s for both (wall clock of
// the child process), the ratio, CPU per message (rusage user+sys of the
// child over the messages it sent) and the child's peak RSS; medians of
// -reps runs, the ratio being the median of the paired ratios.
//
// A relay on the internet is not on loopback: the -proxy rows put a TCP
// proxy in front of the server that delays every chunk by -delay in each
// direction (a 2×delay round trip), without breaking up what was written
// together, so pipelined commands travel together as they would on a real
// link.
//
// Cooperating senders (-multi-n): 1, 2, 3 (-senders) `digest send`
// processes started together (-stagger: the others once the first has
// frozen the issue) on one store and one issue of -multi-n subscribers,
// against go-smtp behind the delay proxy, so that the relay, not the
// store, bounds each process; throughput and the ratio to one process, on
// each store of -store. The server counts every recipient: each
// subscriber must get exactly one message, and each process must have
// joined the one issue and sent a share.
//
// Last, the dry-run memory check: `digest send --dry-run` over large lists
// (-dryrun), wall time and peak RSS, on each store of -store.
//
// -store sqlite,postgres runs those rows on both backends: PostgreSQL in a
// fresh database per run on -pg (seeded once per size, copied per run with
// CREATE DATABASE … TEMPLATE), every database dropped at the end.
//
// Usage: go run ./bench/send [-n 20000] [-conns 4,16] [-reps 3]
// [-proxy-n 1000] [-delay 10ms] [-dryrun 1000000] [-servers sink,gosmtp]
// [-store sqlite,postgres] [-multi-n 20000 -senders 1,2,3 -multi-conns 16
// -multi-delay 10ms -multi-reps 1 -stagger]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if os.Getenv(rusageEnv) != "" {
		rusageChild()
		return
	}
	if os.Getenv(childEnv) == "raw" {
		rawChild()
		return
	}
	n := flag.Int("n", 20000, "subscribers (messages) per throughput run")
	connsFlag := flag.String("conns", "4,16", "SMTP connection counts to compare at")
	reps := flag.Int("reps", 3, "runs of each side per row (the median is reported)")
	servers := flag.String("servers", "sink,gosmtp", "servers for the loopback rows: sink (Postfix smtp-sink), gosmtp (in-process)")
	proxyN := flag.Int("proxy-n", 1000, "messages per run behind the delay proxy (0: skip those rows)")
	proxyServers := flag.String("proxy-servers", "sink", "servers behind the delay proxy; sink-nopipe = smtp-sink without PIPELINING")
	delay := flag.Duration("delay", 10*time.Millisecond, "proxy delay per chunk and direction")
	dry := flag.String("dryrun", "1000000", "subscriber counts for the dry-run memory check (empty: skip)")
	stores := flag.String("store", "sqlite", "stores for the cooperating-senders and dry-run rows: sqlite, postgres")
	pgAdmin := flag.String("pg", envOr("DIGEST_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server the bench creates (and drops) its databases on")
	var mo multiOptions
	flag.IntVar(&mo.n, "multi-n", 0, "subscribers on the one issue of the cooperating-senders rows (0: skip)")
	sendersFlag := flag.String("senders", "1,2,3", "digest processes per cooperating-senders row; the first is the baseline")
	flag.IntVar(&mo.conns, "multi-conns", 16, "smtp.concurrency of each cooperating sender")
	flag.DurationVar(&mo.delay, "multi-delay", 10*time.Millisecond, "proxy delay per chunk and direction for the cooperating senders")
	flag.IntVar(&mo.reps, "multi-reps", 1, "runs per cooperating-senders row (the median is reported)")
	flag.BoolVar(&mo.stagger, "stagger", false, "start the other senders once the first has frozen the issue, instead of all together")
	flag.Parse()
	conns, err := intList(*connsFlag)
	if err != nil {
		log.Fatalf("-conns: %v", err)
	}
	if mo.senders, err = intList(*sendersFlag); err != nil || len(mo.senders) == 0 {
		log.Fatalf("-senders: %v", err)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "digest-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := newBench(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer b.close()

	if *n > 0 {
		fmt.Printf("Throughput: %d subscribers per run, medians of %d runs, child processes measured by wall clock and rusage\n", *n, *reps)
		for _, name := range strings.Split(*servers, ",") {
			srv, err := b.server(strings.TrimSpace(name))
			if err != nil {
				fmt.Printf("\n%s: %v\n", name, err)
				continue
			}
			b.table(ctx, srv, *n, conns, *reps)
		}
	}
	if *proxyN > 0 {
		fmt.Printf("\nBehind a delay proxy: %v per chunk each way (%v round trip), %d messages per run\n", *delay, 2**delay, *proxyN)
		for _, name := range strings.Split(*proxyServers, ",") {
			srv, err := b.server(strings.TrimSpace(name))
			if err != nil {
				fmt.Printf("\n%s: %v\n", name, err)
				continue
			}
			p, err := startProxy(srv.addr(), *delay)
			if err != nil {
				log.Fatal(err)
			}
			b.table(ctx, srv.via(p), *proxyN, conns, *reps)
			p.close()
		}
	}
	if mo.n <= 0 && *dry == "" {
		return
	}
	var backends []backend
	for _, name := range strings.Split(*stores, ",") {
		be, err := b.newBackend(ctx, strings.TrimSpace(name), *pgAdmin)
		if err != nil {
			fmt.Printf("\n%s rows skipped: %v\n", name, err)
			continue
		}
		defer be.close()
		backends = append(backends, be)
	}
	if mo.n > 0 {
		for _, be := range backends {
			b.multiTable(ctx, be, mo)
		}
	}
	if *dry != "" {
		sizes, err := intList(*dry)
		if err != nil {
			log.Fatalf("-dryrun: %v", err)
		}
		b.dryRuns(ctx, sizes, backends)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// bench holds what every run shares: the built binary, the seeded stores
// and the servers started so far.
type bench struct {
	dir     string
	bin     string             // the digest binary
	self    string             // this program, for the raw child
	eml     string             // the pre-built message the raw loop sends
	seeded  map[int]string     // subscribers -> template store file
	servers map[string]*server // started servers by name
}

func newBench(ctx context.Context, dir string) (*bench, error) {
	b := &bench{dir: dir, seeded: map[int]string{}, servers: map[string]*server{}}
	var err error
	if b.self, err = os.Executable(); err != nil {
		return nil, err
	}
	b.bin = filepath.Join(dir, "digest")
	if err := goBuild(b.bin); err != nil {
		return nil, err
	}
	if b.eml, err = b.prebuilt(ctx); err != nil {
		return nil, fmt.Errorf("pre-built message: %w", err)
	}
	return b, nil
}

func (b *bench) close() {
	for _, s := range b.servers {
		s.close()
	}
}

// table prints one server's rows: digest against raw at each connection
// count.
func (b *bench) table(ctx context.Context, srv *server, n int, conns []int, reps int) {
	fmt.Printf("\n%s\n", srv.describe())
	fmt.Printf("  %5s  %12s  %12s  %6s  %14s  %14s  %10s  %10s\n",
		"conns", "digest msg/s", "raw msg/s", "ratio", "digest ms CPU", "raw ms CPU", "digest RSS", "raw RSS")
	for _, c := range conns {
		var ds, rs []result
		var ratios []float64
		for i := range reps {
			var d, r result
			var err error
			// Alternate the order so drift on the shared machine hits both.
			if i%2 == 0 {
				d, err = b.runDigest(ctx, srv, n, c)
				if err == nil {
					r, err = b.runRaw(ctx, srv, n, c)
				}
			} else {
				r, err = b.runRaw(ctx, srv, n, c)
				if err == nil {
					d, err = b.runDigest(ctx, srv, n, c)
				}
			}
			if err != nil {
				log.Fatalf("%s, %d connections: %v", srv.name, c, err)
			}
			ds, rs = append(ds, d), append(rs, r)
			ratios = append(ratios, d.rate()/r.rate())
		}
		d, r := medianResult(ds), medianResult(rs)
		fmt.Printf("  %5d  %12.0f  %12.0f  %6.2f  %14.3f  %14.3f  %7.1f MB  %7.1f MB\n",
			c, d.rate(), r.rate(), median(ratios), d.cpuPerMsg(), r.cpuPerMsg(), d.rssMB, r.rssMB)
	}
}
