package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// childEnv set to "raw" makes this program the raw go-mail loop.
const childEnv = "DIGEST_BENCH_CHILD"

// secret is the token key the digest child signs links with.
const secret = "bench-secret-0123456789abcdef"

// result is one child process's run.
type result struct {
	n     int
	wall  time.Duration
	cpu   time.Duration // user + sys
	rssMB float64
}

func (r result) rate() float64 { return float64(r.n) / r.wall.Seconds() }

func (r result) cpuPerMsg() float64 { return r.cpu.Seconds() * 1000 / float64(r.n) }

// runChild runs cmd to completion and measures it: wall clock, CPU
// (rusage of the middle process, which includes the command it waited
// for) and the command's own peak RSS (see rusageEnv).
func runChild(cmd *exec.Cmd, n int) (result, []byte, error) {
	m, maxRSS, err := measured(cmd)
	if err != nil {
		return result{}, nil, err
	}
	var out, errb bytes.Buffer
	m.Stdout, m.Stderr = &out, &errb
	start := time.Now()
	err = m.Run()
	wall := time.Since(start)
	rss, rerr := maxRSS()
	if err != nil {
		return result{}, nil, fmt.Errorf("%s: %v\n%s", filepath.Base(cmd.Path), err, errb.Bytes())
	}
	if rerr != nil {
		return result{}, nil, rerr
	}
	ru := m.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return result{n: n, wall: wall, cpu: cpu, rssMB: rss}, out.Bytes(), nil
}

// runDigest runs the whole `digest send` to n fresh subscribers.
func (b *bench) runDigest(ctx context.Context, srv *server, n, conns int) (result, error) {
	dir, err := os.MkdirTemp(b.dir, "run-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "bench.db")
	if err := b.storeCopy(ctx, n, db); err != nil {
		return result{}, err
	}
	cfg, err := writeConfig(dir, srv.host, srv.port, conns, sqliteSection(db), "")
	if err != nil {
		return result{}, err
	}
	before := 0
	if srv.accepted != nil {
		before = srv.accepted()
	}
	cmd := exec.CommandContext(ctx, b.bin, "--config", cfg, "--log-level", "warn", "send", "--json", "--no-progress")
	cmd.Env = append(os.Environ(), "DIGEST_SECRET="+secret)
	res, out, err := runChild(cmd, n)
	if err != nil {
		return res, err
	}
	var sum struct{ Sent, Recipients int }
	if err := json.Unmarshal(out, &sum); err != nil {
		return res, fmt.Errorf("digest send --json: %v: %s", err, out)
	}
	if sum.Sent != n {
		return res, fmt.Errorf("digest sent %d of %d", sum.Sent, n)
	}
	if srv.accepted != nil && srv.accepted()-before != n {
		return res, fmt.Errorf("server accepted %d of digest's %d", srv.accepted()-before, n)
	}
	return res, nil
}

// runRaw runs the raw go-mail loop (this program as a child).
func (b *bench) runRaw(ctx context.Context, srv *server, n, conns int) (result, error) {
	before := 0
	if srv.accepted != nil {
		before = srv.accepted()
	}
	cmd := exec.CommandContext(ctx, b.self, "-host", srv.host, "-port", strconv.Itoa(srv.port),
		"-conns", strconv.Itoa(conns), "-n", strconv.Itoa(n), "-eml", b.eml)
	cmd.Env = append(os.Environ(), childEnv+"=raw")
	res, out, err := runChild(cmd, n)
	if err != nil {
		return res, err
	}
	if got, _ := strconv.Atoi(string(bytes.TrimSpace(out))); got != n {
		return res, fmt.Errorf("raw loop sent %s of %d", out, n)
	}
	if srv.accepted != nil && srv.accepted()-before != n {
		return res, fmt.Errorf("server accepted %d of the raw loop's %d", srv.accepted()-before, n)
	}
	return res, nil
}

// rawChild is the baseline: the plain go-mail loop a careful user would
// write for speed. Each of -conns connections takes the next message
// number and sends the pre-built bytes with MAIL, RCPT, DATA (no RSET, no
// NOOP, no rebuilding), refreshing the connection's deadline per message
// as go-mail's own Send does.
func rawChild() {
	fs := flag.NewFlagSet("raw", flag.ExitOnError)
	host := fs.String("host", "127.0.0.1", "")
	port := fs.Int("port", 25, "")
	conns := fs.Int("conns", 4, "")
	n := fs.Int("n", 1000, "")
	eml := fs.String("eml", "", "")
	_ = fs.Parse(os.Args[1:])
	msg, err := os.ReadFile(*eml)
	if err != nil {
		log.Fatal(err)
	}
	const timeout = 30 * time.Second
	var next, sent atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *conns)
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gomail.NewClient(*host, gomail.WithPort(*port), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithTimeout(timeout))
			if err != nil {
				errs <- err
				return
			}
			sc, err := c.DialToSMTPClientWithContext(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = c.CloseWithSMTPClient(sc) }()
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				err := sc.UpdateDeadline(timeout)
				if err == nil {
					err = sc.Mail("<brief@example.org>")
				}
				if err == nil {
					err = sc.Rcpt(fmt.Sprintf("<raw%07d@example.net>", i))
				}
				var w io.WriteCloser
				if err == nil {
					w, err = sc.Data()
				}
				if err == nil {
					_, err = w.Write(msg)
					if cerr := w.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sent.Load())
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianResult takes the median of each measure on its own.
func medianResult(rs []result) result {
	pick := func(f func(result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	return result{
		n:     rs[0].n,
		wall:  time.Duration(pick(func(r result) float64 { return float64(r.wall) })),
		cpu:   time.Duration(pick(func(r result) float64 { return float64(r.cpu) })),
		rssMB: pick(func(r result) float64 { return r.rssMB }),
	}
}
