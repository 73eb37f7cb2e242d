package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/smtptest"
)

// TestJoinsIssueFrozenWhileItCollects: this send finds no open issue, and
// another sender freezes the window's issue before this one's build asks
// which articles were sent: the build comes out empty. This send must join
// the other's open issue and send its share, not end "nothing new".
func TestJoinsIssueFrozenWhileItCollects(t *testing.T) {
	const n = 300 // more than the other sender claims ahead (two batches)
	release := make(chan struct{})
	firstBody := make(chan struct{}, 1)
	f := newFixture(t, n, smtptest.WithGate(func() <-chan struct{} {
		select {
		case firstBody <- struct{}{}:
		default:
		}
		return release
	}))
	other := New(f.sender.o)
	otherDone := make(chan error, 1)
	build := f.sender.o.Build
	f.sender.o.Build = func(ctx context.Context, from, to time.Time, seen func(string) bool) (*digest.Digest, error) {
		go func() {
			sum, err := other.Send(context.Background(), SendOptions{})
			if err == nil && sum.State != StateDone {
				err = fmt.Errorf("the other sender: %+v", sum)
			}
			otherDone <- err
		}()
		<-firstBody // the other sender froze its issue and is sending
		d, err := build(ctx, from, to, seen)
		close(release)
		return d, err
	}
	sum, err := f.sender.Send(context.Background(), SendOptions{})
	if err != nil || sum.Empty || !sum.Resumed || sum.State != StateDone || sum.Sent == 0 {
		t.Fatalf("summary %+v, %v: want the other sender's issue joined and a share sent", sum, err)
	}
	if err := <-otherDone; err != nil {
		t.Fatal(err)
	}
	for i, c := range f.counts(n) {
		if c != 1 {
			t.Errorf("%s got %d", reader(i), c)
		}
	}
}

// Settle runs once an issue is built and frozen, before the store holds
// it: the binary hands the build's garbage back there.
func TestSettleBetweenFreezeAndStore(t *testing.T) {
	f := newFixture(t, 3)
	var calls int
	f.sender.o.Settle = func() {
		calls++
		if _, open, err := f.st.OpenIssue(context.Background(), "weekly"); err != nil || open {
			t.Errorf("Settle ran with the issue already stored (open %v, %v)", open, err)
		}
	}
	if sum, err := f.sender.Send(context.Background(), SendOptions{}); err != nil || sum.Sent != 3 {
		t.Fatalf("send: %+v, %v", sum, err)
	}
	if calls != 1 {
		t.Fatalf("Settle ran %d times for one new issue, want 1", calls)
	}
}
