package spill

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestPutRead(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Nothing is left in the directory, even while the file is in use.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("spill file visible in its directory: %v", entries)
	}
	texts := []string{"first text", "", "ünïcödé — and more", strings.Repeat("long ", 5000)}
	offs := make([]int64, len(texts))
	for i, s := range texts {
		off, ok := f.Put(s)
		if !ok {
			t.Fatalf("Put(%d) failed: %v", i, f.Err())
		}
		offs[i] = off
	}
	for i, s := range texts {
		got, err := f.Read(offs[i], len(s))
		if err != nil || got != s {
			t.Errorf("Read(%d) = %.20q, %v; want %.20q", i, got, err, s)
		}
	}
	if want := int64(len(strings.Join(texts, ""))); f.Size() != want {
		t.Errorf("Size = %d, want %d", f.Size(), want)
	}
}

func TestConcurrentPuts(t *testing.T) {
	f, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const writers, each = 8, 200
	type put struct {
		off  int64
		text string
	}
	got := make([][]put, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				s := fmt.Sprintf("writer %d text %d %s", w, i, strings.Repeat("x", i))
				off, ok := f.Put(s)
				if !ok {
					t.Errorf("Put failed: %v", f.Err())
					return
				}
				got[w] = append(got[w], put{off, s})
			}
		})
	}
	wg.Wait()
	for _, ps := range got {
		for _, p := range ps {
			if s, err := f.Read(p.off, len(p.text)); err != nil || s != p.text {
				t.Fatalf("read %.30q, %v; want %.30q", s, err, p.text)
			}
		}
	}
}

// A full disk takes nothing: Put says so, and the caller keeps the text.
func TestFullDiskKeepsNothing(t *testing.T) {
	dev, err := os.OpenFile("/dev/full", os.O_RDWR, 0)
	if err != nil {
		t.Skip("no /dev/full here:", err)
	}
	f := use(dev)
	defer f.Close()
	if _, ok := f.Put("a text"); ok {
		t.Fatal("Put on a full disk reported success")
	}
	if err := f.Err(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Err = %v, want ENOSPC", err)
	}
	// After one failure the file takes nothing more for the build.
	if _, ok := f.Put("another"); ok {
		t.Error("Put after a failure reported success")
	}
}

func TestClosedAndNil(t *testing.T) {
	f, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	off, _ := f.Put("gone")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Put("late"); ok {
		t.Error("Put on a closed file reported success")
	}
	if _, err := f.Read(off, 4); err == nil {
		t.Error("Read on a closed file gave no error")
	}
	var none *File
	if _, ok := none.Put("x"); ok || none.Err() != nil || none.Close() != nil || none.Size() != 0 {
		t.Error("a nil File must take nothing and report nothing")
	}
}
