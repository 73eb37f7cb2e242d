package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digest-newsletter/digest/internal/smtptest"
)

// multiOptions are the cooperating-senders rows' settings.
type multiOptions struct {
	n       int           // subscribers on the one issue
	senders []int         // process counts, the first being the baseline
	conns   int           // smtp.concurrency of each process
	delay   time.Duration // proxy delay per chunk and direction
	reps    int
	stagger bool // start the others once the first has frozen the issue
}

// multiResult is one run of k processes on one issue.
type multiResult struct {
	wall time.Duration
	cpu  time.Duration // user + sys of all the processes
	sent []int         // per process
}

// recipientCounter counts, at the server, the messages each envelope
// recipient was accepted with: "each subscriber exactly once" is checked
// there, not in digest's own summaries.
type recipientCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *recipientCounter) hook(_ string, to []string, _ int) error {
	c.mu.Lock()
	for _, r := range to {
		c.n[strings.ToLower(r)]++
	}
	c.mu.Unlock()
	return nil
}

// check reports the subscribers that did not get exactly one message.
func (c *recipientCounter) check(n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	lost, dups := 0, 0
	for i := 1; i <= n; i++ {
		switch k := c.n[fmt.Sprintf("reader%07d@example.net", i)]; {
		case k == 0:
			lost++
		case k > 1:
			dups += k - 1
		}
	}
	if lost > 0 || dups > 0 || len(c.n) != n {
		return fmt.Errorf("server: %d subscribers got nothing, %d extra copies, %d distinct recipients for %d subscribers", lost, dups, len(c.n), n)
	}
	return nil
}

// multiTable prints, for one backend, the throughput of 1, 2, 3 … digest
// processes started together on one issue, and each count's ratio to the
// first, through the delay proxy so the relay is the bottleneck.
func (b *bench) multiTable(ctx context.Context, be backend, o multiOptions) {
	fmt.Printf("\nCooperating senders on %s: one issue of %d subscribers, %s, smtp.concurrency %d each, go-smtp behind the delay proxy (%v each way, %v round trip), medians of %d\n",
		be.name(), o.n, map[bool]string{false: "processes started together", true: "the others started once the first froze it"}[o.stagger], o.conns, o.delay, 2*o.delay, o.reps)
	fmt.Printf("  %9s  %8s  %8s  %8s  %12s  %s\n", "processes", "wall s", "msg/s", "vs first", "digest CPU s", "sent by each (last run)")
	var baseRate float64
	for _, k := range o.senders {
		var walls []float64
		var last multiResult
		for range o.reps {
			r, err := b.multiRun(ctx, be, o, k)
			if err != nil {
				fmt.Printf("  %9d  %v\n", k, err)
				return
			}
			walls = append(walls, r.wall.Seconds())
			last = r
		}
		wall := median(walls)
		rate := float64(o.n) / wall
		if baseRate == 0 {
			baseRate = rate
		}
		fmt.Printf("  %9d  %8.1f  %8.0f  %7.2fx  %12.1f  %v\n", k, wall, rate, rate/baseRate, last.cpu.Seconds(), last.sent)
	}
}

// multiRun runs k `digest send` processes on one fresh store and waits for
// all of them: the first freezes the issue, the others join it (each must
// report the issue as resumed, none as sent by another, and each must have
// sent a share); the server must have every subscriber exactly once. The
// wall clock runs from the first start to the last exit.
func (b *bench) multiRun(ctx context.Context, be backend, o multiOptions, k int) (multiResult, error) {
	dir, err := os.MkdirTemp(b.dir, "multi-")
	if err != nil {
		return multiResult{}, err
	}
	defer os.RemoveAll(dir)
	rs, err := be.store(ctx, dir, o.n)
	if err != nil {
		return multiResult{}, err
	}
	defer rs.drop()
	counter := &recipientCounter{n: map[string]int{}}
	srv, err := smtptest.Listen("127.0.0.1:0", smtptest.WithDiscard(), smtptest.WithDataHook(counter.hook))
	if err != nil {
		return multiResult{}, err
	}
	defer srv.Close()
	p, err := startProxy(srv.Addr, o.delay)
	if err != nil {
		return multiResult{}, err
	}
	defer p.close()
	// mark_batch as the README's send rows; the claim batch is the default.
	cfg, err := writeConfig(dir, p.host, p.port, o.conns, rs.section, "[delivery]\nmark_batch = 16\n")
	if err != nil {
		return multiResult{}, err
	}
	cmds := make([]*exec.Cmd, k)
	outs := make([]*bytes.Buffer, k)
	errs := make([]*bytes.Buffer, k)
	for i := range cmds {
		c := exec.CommandContext(ctx, b.bin, "--config", cfg, "--log-level", "warn", "send", "--json", "--no-progress")
		c.Env = append(os.Environ(), append(rs.env, "DIGEST_SECRET="+secret)...)
		outs[i], errs[i] = &bytes.Buffer{}, &bytes.Buffer{}
		c.Stdout, c.Stderr = outs[i], errs[i]
		cmds[i] = c
	}
	start := time.Now()
	if err := startAll(ctx, cmds, srv, o.stagger); err != nil {
		return multiResult{}, err
	}
	var failed []string
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			failed = append(failed, fmt.Sprintf("process %d: %v\n%s", i+1, err, errs[i].Bytes()))
		}
	}
	res := multiResult{wall: time.Since(start)}
	for _, c := range cmds {
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("%s", strings.Join(failed, "\n"))
	}
	if err := shared(outs, o.n, &res); err != nil {
		return res, err
	}
	return res, counter.check(o.n)
}

// shared checks from the processes' --json that they really cooperated on
// one issue, and records what each sent.
func shared(outs []*bytes.Buffer, n int, res *multiResult) error {
	fresh, total := 0, 0
	var issue int64
	for i, out := range outs {
		var s struct {
			Issue       int64
			State       string
			Sent        int
			Resumed     bool
			SentByOther bool `json:"sent_by_other"`
		}
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			return fmt.Errorf("process %d --json: %v: %s", i+1, err, out.Bytes())
		}
		switch {
		case s.SentByOther:
			return fmt.Errorf("process %d found the issue sent by another: it never joined", i+1)
		case s.State != "done":
			return fmt.Errorf("process %d ended %q", i+1, s.State)
		case s.Sent == 0 && len(outs) > 1:
			return fmt.Errorf("process %d sent nothing: the issue was not shared", i+1)
		case issue != 0 && s.Issue != issue:
			return fmt.Errorf("process %d sent issue %d, another issue %d", i+1, s.Issue, issue)
		}
		issue = s.Issue
		if !s.Resumed {
			fresh++
		}
		total += s.Sent
		res.sent = append(res.sent, s.Sent)
	}
	if fresh != 1 {
		return fmt.Errorf("%d processes froze the issue, want 1 (the others join it)", fresh)
	}
	if total != n {
		return fmt.Errorf("the processes sent %d in all, want %d", total, n)
	}
	return nil
}

// startAll starts the processes together, or (stagger) the first alone
// until its issue is frozen and sending (the server has its first
// message), then the rest, which find the issue open and join it.
func startAll(ctx context.Context, cmds []*exec.Cmd, srv *smtptest.Server, stagger bool) error {
	kill := func(started []*exec.Cmd) {
		for _, c := range started {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	for i, c := range cmds {
		if err := c.Start(); err != nil {
			kill(cmds[:i])
			return err
		}
		if i == 0 && stagger {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := srv.WaitFor(wctx, 1)
			cancel()
			if err != nil {
				kill(cmds[:1])
				return fmt.Errorf("the first process never sent: %w", err)
			}
		}
	}
	return nil
}
