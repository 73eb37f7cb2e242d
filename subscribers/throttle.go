package subscribers

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// RateWindows is the store's fixed-window count of events per key, shared
// by every process on the store, so that web instances behind one load
// balancer throttle a client as one; *store.DB satisfies it.
type RateWindows interface {
	HitRateWindow(ctx context.Context, key string, now time.Time, window time.Duration) (n int64, ends time.Time, err error)
	PruneRateWindows(ctx context.Context, now time.Time) (int64, error)
}

// defaultPruneEvery is how many store hits an instance makes between two
// prunes of ended windows: the table holds the keys of one window and at
// most this many more per instance.
const defaultPruneEvery = 1000

// throttle limits sign-ups per client key (throttleKey) to limit per fixed
// window, counted in the store.
//
// In memory it keeps only the refusals: a key the store refused stays
// refused until its window ends (the store would say the same), so a
// client hammering the form costs one store write per instance and
// window, not one per post; on SQLite those writes would otherwise queue
// with the delivery marks on the one writer connection. The memory is
// bounded: when full it forgets the least recently refused key, which then
// costs one more store write, never a wrong answer.
type throttle struct {
	store      RateWindows
	limit      int64
	window     time.Duration
	log        *slog.Logger
	refused    *lru.Cache[string, time.Time] // key → end of the window it was refused in
	pruneEvery int64
	hits       atomic.Int64
}

func newThrottle(st RateWindows, limit int, window time.Duration, maxKeys int, log *slog.Logger) *throttle {
	c, err := lru.New[string, time.Time](max(1, maxKeys))
	if err != nil { // only for a size below 1
		panic(err)
	}
	return &throttle{store: st, limit: int64(limit), window: window, log: log, refused: c, pruneEvery: defaultPruneEvery}
}

// allow counts one sign-up for key at now and reports whether it is within
// the limit, and if not, how long until the window ends.
//
// A store error lets the sign-up through, with a warning: the throttle
// guards against abuse and is not a correctness rule, while a 500 or 429
// for a hiccup would turn real readers away. What it protects stays
// protected meanwhile: confirm_every holds per address in the sign-up's own
// transaction (which fails by itself if the store is really down) and the
// confirmation budget holds at the outbox's claim, so a flood still mails
// no more strangers. The answer never depends on the address (it is not
// even parsed yet), so failing open tells nobody who is on the list.
func (t *throttle) allow(ctx context.Context, key string, now time.Time) (bool, time.Duration) {
	if ends, ok := t.refused.Get(key); ok {
		if now.Before(ends) {
			return false, ends.Sub(now)
		}
		t.refused.Remove(key)
	}
	n, ends, err := t.store.HitRateWindow(ctx, "signup "+key, now, t.window)
	if err != nil {
		t.log.WarnContext(ctx, "subscribe throttle: store failed, letting the sign-up through", "err", err)
		return true, 0
	}
	if t.hits.Add(1)%t.pruneEvery == 0 {
		if _, err := t.store.PruneRateWindows(ctx, now); err != nil {
			t.log.WarnContext(ctx, "subscribe throttle: prune ended windows", "err", err)
		}
	}
	if n > t.limit {
		t.refused.Add(key, ends)
		return false, ends.Sub(now)
	}
	return true, 0
}

// throttleKey groups IPv6 clients by /64: one host usually owns a whole
// /64 and could otherwise rotate through it.
func throttleKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
