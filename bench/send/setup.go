package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
)

func goBuild(out string) error {
	if b, err := exec.Command("go", "build", "-o", out, "./cmd/digest").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/digest (run from the repository root): %v\n%s", err, b)
	}
	return nil
}

// writeConfig writes a config sending the bundled example articles to
// host:port over conns connections, with storeSection as its [store]
// section; extra goes at the end.
func writeConfig(dir, host string, port, conns int, storeSection, extra string) (string, error) {
	articles, err := filepath.Abs("examples/articles")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(articles); err != nil {
		return "", fmt.Errorf("run from the repository root: %w", err)
	}
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
max_per_connection = 1000000
%s%s`, articles, host, port, conns, storeSection, extra)
	p := filepath.Join(dir, "config.toml")
	return p, os.WriteFile(p, []byte(src), 0o644)
}

// storeCopy puts a store with n confirmed subscribers (and nothing else) at
// dst, seeding a template once per n.
func (b *bench) storeCopy(ctx context.Context, n int, dst string) error {
	tmpl, ok := b.seeded[n]
	if !ok {
		tmpl = filepath.Join(b.dir, fmt.Sprintf("seed-%d.db", n))
		if err := seed(ctx, tmpl, n); err != nil {
			return err
		}
		b.seeded[n] = tmpl
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := copyFile(tmpl+suffix, dst+suffix); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

func seed(ctx context.Context, path string, n int) error {
	st, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	start := time.Now()
	err = importN(ctx, st, n)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("seeding %d subscribers: %w", n, err)
	}
	fmt.Fprintf(os.Stderr, "  (seeded %d subscribers in %.1fs)\n", n, time.Since(start).Seconds())
	return nil
}

func importOne(ctx context.Context, st *store.DB) error { return importN(ctx, st, 1) }

// importN imports n confirmed subscribers, reader0000001@example.net on.
func importN(ctx context.Context, st *store.DB, n int) error {
	i := 0
	now := time.Now()
	_, err := st.Import(ctx, func() (store.ImportRow, bool, error) {
		if i >= n {
			return store.ImportRow{}, false, nil
		}
		i++
		s := store.Subscriber{Email: fmt.Sprintf("reader%07d@example.net", i), Name: fmt.Sprintf("Reader %d", i),
			Status: store.StatusConfirmed, Created: now, Confirmed: now}
		return store.ImportRow{Subscriber: s, Consent: store.ConsentEvent{Kind: store.ConsentImport, At: now, Form: "import"}}, true, nil
	}, func(store.Subscriber, store.ImportRow) (store.Change, error) { return store.Change{}, nil })
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// prebuilt writes one digest message as the raw loop's payload: what
// `digest send --dry-run --out` writes for a one-subscriber list, links
// signed with the same key, so both sides send messages of the same size.
func (b *bench) prebuilt(ctx context.Context) (string, error) {
	dir := filepath.Join(b.dir, "prebuilt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	db := filepath.Join(dir, "one.db")
	if err := seed(ctx, db, 1); err != nil {
		return "", err
	}
	cfg, err := writeConfig(dir, "127.0.0.1", 25, 1, sqliteSection(db), "")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "out")
	cmd := exec.CommandContext(ctx, b.bin, "--config", cfg, "--log-level", "warn", "send", "--dry-run", "--out", out)
	cmd.Env = append(os.Environ(), "DIGEST_SECRET="+secret)
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, o)
	}
	ms, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	if len(ms) != 1 {
		return "", fmt.Errorf("%d .eml files in %s, want 1", len(ms), out)
	}
	st, err := os.Stat(ms[0])
	if err != nil {
		return "", err
	}
	fmt.Printf("Message: one digest of %d bytes (the example articles), personalised per recipient on digest's side\n", st.Size())
	return ms[0], nil
}

// dryRuns runs `digest send --dry-run` over large lists on each backend:
// wall time and peak RSS of the child (memory must stay flat as the list
// grows), and each backend's time per subscriber against the first's at
// the same size.
func (b *bench) dryRuns(ctx context.Context, sizes []int, backends []backend) {
	fmt.Println("\nDry run (real binary): time and peak RSS")
	var base float64
	for _, size := range sizes {
		var first float64
		for _, be := range backends {
			res, err := b.dryRun(ctx, be, size)
			if err != nil {
				fmt.Printf("  %-8s %8d subscribers: %v\n", be.name(), size, err)
				continue
			}
			perM := res.wall.Seconds() / float64(size) * 1e6
			if base == 0 {
				base = perM
			}
			vs := ""
			if first == 0 {
				first = perM
			} else {
				vs = fmt.Sprintf(", %.2fx %s's time per subscriber (target <= 2)", perM/first, backends[0].name())
			}
			fmt.Printf("  %-8s %8d subscribers: %6.1fs (%5.1f µs/subscriber, %.2fx the first row's), CPU %.3f ms/subscriber, peak RSS %5.1f MB (target <= 64)%s\n",
				be.name(), size, res.wall.Seconds(), perM, perM/base, res.cpuPerMsg(), res.rssMB, vs)
		}
		_ = os.Remove(b.seeded[size]) // large templates are not reused
		delete(b.seeded, size)
	}
}

func (b *bench) dryRun(ctx context.Context, be backend, size int) (result, error) {
	dir, err := os.MkdirTemp(b.dir, "dry-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	rs, err := be.store(ctx, dir, size)
	if err != nil {
		return result{}, err
	}
	defer rs.drop()
	cfg, err := writeConfig(dir, "127.0.0.1", 25, 4, rs.section, "")
	if err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, b.bin, "--config", cfg, "--log-level", "warn", "send", "--dry-run")
	cmd.Env = append(os.Environ(), append(rs.env, "DIGEST_SECRET="+secret)...)
	res, out, err := runChild(cmd, size)
	if err != nil {
		return result{}, fmt.Errorf("dry run: %w", err)
	}
	if !strings.Contains(string(out), fmt.Sprintf("would send to %d recipient", size)) {
		return result{}, fmt.Errorf("dry run over %d subscribers printed:\n%s", size, out)
	}
	return res, nil
}
