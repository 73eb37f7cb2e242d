package fetcher

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryAfter reads a Retry-After header (RFC 9110 §10.2.3): a number of
// seconds or an HTTP date. It returns 0 when there is none or it is in
// the past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 7*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// delayHost records that host asked not to be asked again for d.
func (f *Fetcher) delayHost(host string, d time.Duration) {
	until := time.Now().Add(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	if until.After(f.notBefore[host]) {
		f.notBefore[host] = until
	}
}

// waitHost waits until host may be asked again. When the context's
// deadline comes first it fails at once, saying what the host asked.
func (f *Fetcher) waitHost(ctx context.Context, host string) error {
	f.mu.Lock()
	until := f.notBefore[host]
	f.mu.Unlock()
	d := time.Until(until)
	if d <= 0 {
		return nil
	}
	if !fitsDeadline(ctx, d) {
		return fmt.Errorf("http: %s asked not to be fetched again before %s (Retry-After)", host, until.UTC().Format(time.RFC3339))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("http: waiting for %s (Retry-After): %w", host, ctx.Err())
	}
}

// fitsDeadline reports whether waiting d still leaves time before the
// context's deadline for a request.
func fitsDeadline(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d+time.Second
}
