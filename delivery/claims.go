package delivery

import (
	"context"
	"sync/atomic"
	"time"
)

// claimLease keeps one pass's claims alive: it renews them every TTL/4,
// and tells the pass to stop handing out messages once they come within
// TTL/4 of expiring (three renewals in a row failed, or the process was
// stopped for most of the TTL), since another sender may take its rows at
// the expiry. Once lapsed it stays lapsed: rows read before the lapse may
// be someone else's by now.
type claimLease struct {
	ttl    time.Duration
	until  atomic.Int64 // unix ns: the earliest expiry among held claims; 0 before the first claim
	lapsed atomic.Bool
	done   chan struct{}
}

func newClaimLease(ttl time.Duration) *claimLease {
	return &claimLease{ttl: ttl, done: make(chan struct{})}
}

// claimed records a claim made until `until`. Claims made after a renewal
// expire later than the renewed ones, so only the first one counts.
func (l *claimLease) claimed(until time.Time) { l.until.CompareAndSwap(0, until.UnixNano()) }

// margin is how long before the expiry the claims stop being trusted: a
// message handed out just before must have time to be sent and marked.
func (l *claimLease) margin() time.Duration { return l.ttl / 4 }

// valid reports whether the claims can still be acted on.
func (l *claimLease) valid() bool {
	if l.lapsed.Load() {
		return false
	}
	u := l.until.Load()
	if u != 0 && time.Now().Add(l.margin()).UnixNano() >= u {
		l.lapsed.Store(true)
		return false
	}
	return true
}

// keep renews the claims every TTL/4 until end is called, and calls lost
// when they lapse. The returned channel is closed when it has stopped.
func (l *claimLease) keep(ctx context.Context, renew func(context.Context, time.Time) error, lost func()) <-chan struct{} {
	stopped := make(chan struct{})
	every := max(l.ttl/4, 10*time.Millisecond)
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-t.C:
			}
			if l.until.Load() == 0 {
				continue
			}
			if !l.valid() {
				lost()
				return
			}
			// A slow renewal is fine as long as it lands before the lapse:
			// rows another sender took after an expiry are not touched.
			until := time.Now().Add(l.ttl)
			lapse := time.Unix(0, l.until.Load()).Add(-l.margin())
			rctx, cancel := context.WithDeadline(ctx, lapse)
			err := renew(rctx, until)
			cancel()
			if err == nil && !l.lapsed.Load() {
				l.until.Store(until.UnixNano())
			}
		}
	}()
	return stopped
}

// end stops the renewals.
func (l *claimLease) end() { close(l.done) }
