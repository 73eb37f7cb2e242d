package collect

import (
	"context"
	"sync"
)

// slots bounds the sources fetched at once: overall, and per host.
type slots struct {
	all     chan struct{}
	perHost int

	mu    sync.Mutex
	hosts map[string]chan struct{}
}

func newSlots(all, perHost int) *slots {
	return &slots{all: make(chan struct{}, all), perHost: perHost, hosts: map[string]chan struct{}{}}
}

// acquire takes host's slot (host "" has no limit of its own), then one of
// the run's: in that order, so a source waiting for its busy host holds
// none of the run's slots.
func (s *slots) acquire(ctx context.Context, host string) (release func(), err error) {
	var h chan struct{}
	if host != "" {
		s.mu.Lock()
		if h = s.hosts[host]; h == nil {
			h = make(chan struct{}, s.perHost)
			s.hosts[host] = h
		}
		s.mu.Unlock()
		select {
		case h <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case s.all <- struct{}{}:
	case <-ctx.Done():
		if h != nil {
			<-h
		}
		return nil, ctx.Err()
	}
	return func() {
		<-s.all
		if h != nil {
			<-h
		}
	}, nil
}
