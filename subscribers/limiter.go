package subscribers

import (
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// limiter is a fixed-window counter per key (a client's IP) in bounded
// memory. When full it forgets the least recently seen key: under a flood
// of distinct clients the flood's own keys are evicted first, and a client
// it pushes out merely starts a fresh window. It never refuses a key for
// lack of room, so a flood cannot lock everybody out.
type limiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	keys   *lru.Cache[string, fixedWindow]
}

type fixedWindow struct {
	start time.Time
	n     int
}

func newLimiter(limit int, window time.Duration, maxKeys int) *limiter {
	c, err := lru.New[string, fixedWindow](max(1, maxKeys))
	if err != nil { // only for a size below 1
		panic(err)
	}
	return &limiter{limit: limit, window: window, keys: c}
}

// allow counts one event for key at now and reports whether it is within
// the limit, and if not, how long until the window resets.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.keys.Get(key)
	if !ok || now.Sub(w.start) >= l.window {
		w = fixedWindow{start: now}
	}
	if w.n >= l.limit {
		l.keys.Add(key, w)
		return false, w.start.Add(l.window).Sub(now)
	}
	w.n++
	l.keys.Add(key, w)
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
