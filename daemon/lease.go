package daemon

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// waitLease polls for the lease until this daemon holds it or ctx is done.
func (d *Daemon) waitLease(ctx context.Context) error {
	every := max(d.ttl/3, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	logged := false
	for {
		ok, err := d.o.Store.AcquireLease(ctx, LeaseName, d.o.Holder, d.ttl, d.now())
		switch {
		case err != nil:
			if ctx.Err() == nil {
				d.log.Warn("taking the lease failed: retrying", "error", err)
			}
		case ok:
			return nil
		case !logged:
			d.log.Info("another daemon holds the lease on this store: waiting to take over", "lease_ttl", d.ttl)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// lead runs the schedules while this daemon holds the lease. It reports
// lost when the lease went to another daemon (or could not be renewed in
// time); otherwise ctx is done and the lease has been released (or left
// to expire when sends are still running).
func (d *Daemon) lead(ctx context.Context) (lost bool, err error) {
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lostLease atomic.Bool
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		// Renewal goes on after ctx is done: sends still finishing must
		// stay covered, or another daemon could resume their issue.
		d.renew(context.WithoutCancel(ctx), stop, func() {
			lostLease.Store(true)
			cancel()
		})
	}()
	d.setLeader(true)
	d.log.Info("lease taken: this daemon sends the editions", "holder", d.o.Holder)

	var tasks sync.WaitGroup
	for _, task := range d.o.LeaderTasks {
		tasks.Add(1)
		go func() {
			defer tasks.Done()
			task(leadCtx)
		}()
	}
	err = d.schedule(leadCtx)
	if !waitTimeout(&tasks, d.shutdownGrace) {
		d.log.Error("background tasks still running after the shutdown grace", "shutdown_grace", d.shutdownGrace)
		err = errors.Join(err, ErrStillRunning)
	}

	close(stop)
	<-renewed
	d.setLeader(false)
	if errors.Is(err, ErrStillRunning) {
		return false, ErrStillRunning
	}
	if lostLease.Load() {
		d.log.Error("lease lost: another daemon took over; waiting to take it back")
		return true, nil
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	if err := d.o.Store.ReleaseLease(rctx, LeaseName, d.o.Holder); err != nil {
		d.log.Warn("releasing the lease failed: another daemon takes over when it expires", "error", err, "lease_ttl", d.ttl)
	} else {
		d.log.Info("lease released")
	}
	return false, nil
}

// waitTimeout waits for wg up to d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (d *Daemon) setLeader(v bool) {
	d.mu.Lock()
	d.leader = v
	d.mu.Unlock()
	d.metrics.setLeader(v)
}

// renew extends the lease every ttl/3 until stop is closed. It calls lost
// when another daemon has the lease, or when renewals kept failing until
// the lease may have expired.
func (d *Daemon) renew(ctx context.Context, stop <-chan struct{}, lost func()) {
	every := max(d.ttl/3, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := d.now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		now := d.now()
		ok, err := d.o.Store.AcquireLease(rctx, LeaseName, d.o.Holder, d.ttl, now)
		cancel()
		switch {
		case err == nil && ok:
			lastOK = now
		case err == nil:
			lost()
			return
		case now.Sub(lastOK) >= d.ttl-every:
			d.log.Error("renewing the lease failed until it could expire: stopping sends", "error", err)
			lost()
			return
		default:
			d.log.Warn("renewing the lease failed: retrying", "error", err)
		}
	}
}
