// Package spill keeps the texts of one build's articles in a temporary
// file instead of the heap.
//
// A digest of ten thousand articles carries some 10 MB of article text
// from collection to grouping: read a few times (story merging, topic
// rules, clustering, labels), never shown, and dropped once grouping is
// done. Held in the heap, it is a quarter of a send's memory and grows
// with every source added. In a file it sits in the kernel's page cache,
// which is shared and can be dropped under pressure, and the process's
// memory stays flat however many articles a build reads.
//
// Rules:
//   - The file is removed from its directory as soon as it is created:
//     nothing is left behind, even by a crash.
//   - Nothing is lost to the disk: when the file cannot take a text (a
//     full disk), Put says so and the caller keeps the text in memory.
//     Err reports the first failure.
//   - Put and Read are safe for concurrent use.
package spill

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"
)

// File is one build's spill file.
type File struct {
	f   *os.File
	end atomic.Int64
	mu  sync.Mutex
	err error
	// failed turns Put off after a write failure: a full disk stays full
	// for the rest of a build.
	failed atomic.Bool
	closed atomic.Bool
}

// Create makes a spill file in dir ("" for the system's temporary
// directory).
func Create(dir string) (*File, error) {
	f, err := os.CreateTemp(dir, "digest-texts-*")
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	// Unlinked, the file lives as long as it is open and no longer.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("spill: %w", err)
	}
	return use(f), nil
}

func use(f *os.File) *File { return &File{f: f} }

// Put writes text and returns where it is; ok is false when the file
// could not take it, and the caller keeps the text.
func (s *File) Put(text string) (off int64, ok bool) {
	if s == nil || s.failed.Load() || s.closed.Load() {
		return 0, false
	}
	n := int64(len(text))
	off = s.end.Add(n) - n
	if _, err := s.f.WriteAt([]byte(text), off); err != nil {
		s.failed.Store(true)
		s.fail(fmt.Errorf("spill: write: %w", err))
		return 0, false
	}
	return off, true
}

// Read returns the n bytes at off.
func (s *File) Read(off int64, n int) (string, error) {
	if n == 0 {
		return "", nil
	}
	buf := make([]byte, n)
	if _, err := s.f.ReadAt(buf, off); err != nil {
		err = fmt.Errorf("spill: read: %w", err)
		s.fail(err)
		return "", err
	}
	// buf is nobody else's: the string may take it over instead of
	// copying it, as strings.Builder does.
	return unsafe.String(&buf[0], n), nil
}

func (s *File) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Err is the first write or read that failed, nil if none did.
func (s *File) Err() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Size is how many bytes the file holds.
func (s *File) Size() int64 {
	if s == nil {
		return 0
	}
	return s.end.Load()
}

// Close lets the file go; the texts in it can no longer be read.
func (s *File) Close() error {
	if s == nil || s.closed.Swap(true) {
		return nil
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	return nil
}
