package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
)

// ReadFile reads a local file of at most maxBytes (<= 0:
// DefaultMaxBytes). Only a regular file is read: a named pipe, a device or
// a socket would block open or read forever, past any timeout. The file
// is opened without blocking and checked after opening (so it cannot be
// swapped for a pipe in between), and read in chunks that stop when ctx
// ends.
func ReadFile(ctx context.Context, path string, maxBytes int64) ([]byte, fs.FileInfo, error) {
	return readFile(ctx, path, maxBytes, 0)
}

// ReadFileNoFollow is ReadFile that refuses to open a symbolic link: for
// files that were listed as regular, so that swapping one for a link
// after the listing does not lead the read elsewhere.
func ReadFileNoFollow(ctx context.Context, path string, maxBytes int64) ([]byte, fs.FileInfo, error) {
	return readFile(ctx, path, maxBytes, noFollow)
}

func readFile(ctx context.Context, path string, maxBytes int64, flags int) ([]byte, fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlocking|flags, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, fmt.Errorf("file %s: %w", path, &NotRegularError{Mode: fi.Mode()})
	}
	data, err := readCapped(ctx, f, maxBytes)
	if err != nil {
		return nil, fi, fmt.Errorf("file %s: %w", path, err)
	}
	return data, fi, nil
}

// NotRegularError is a file that is not a regular file.
type NotRegularError struct{ Mode fs.FileMode }

func (e *NotRegularError) Error() string {
	kind := "not a regular file"
	switch {
	case e.Mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO), not a regular file"
	case e.Mode&fs.ModeDevice != 0, e.Mode&fs.ModeCharDevice != 0:
		kind = "a device, not a regular file"
	case e.Mode&fs.ModeSocket != 0:
		kind = "a socket, not a regular file"
	case e.Mode.IsDir():
		kind = "a folder, not a file"
	}
	return kind
}

// chunk is how much is read between two looks at the context.
const chunk = 64 << 10

// readCapped reads r whole unless it holds more than limit bytes, which is
// an error naming the limit. It stops when ctx ends.
func readCapped(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	var data []byte
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
			data = make([]byte, 0, min(fi.Size(), limit)+1)
		}
	}
	if data == nil {
		data = make([]byte, 0, 32<<10)
	}
	lr := io.LimitReader(r, limit+1)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := lr.Read(data[len(data):min(cap(data), len(data)+chunk)])
		data = data[:len(data)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	return data, nil
}

// FileURLPath is the local path of a file:// URL; "file:relative/x.xml"
// (opaque) is taken as a path relative to the working directory.
func FileURLPath(u *url.URL) string {
	if u.Opaque != "" {
		return u.Opaque
	}
	if u.Host != "" && u.Host != "localhost" {
		// file://examples/feed.xml is a common slip for a relative path.
		return u.Host + u.Path
	}
	return u.Path
}
