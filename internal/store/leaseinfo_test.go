package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLeaseHolder(t *testing.T) { forEachBackend(t, testLeaseHolder) }

func testLeaseHolder(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := openTest(t, be)
	if _, _, err := db.LeaseHolder(ctx, "run"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no lease: err = %v, want ErrNotFound", err)
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	if ok, err := db.AcquireLease(ctx, "run", "a", time.Minute, now); err != nil || !ok {
		t.Fatalf("a takes the lease: %v %v", ok, err)
	}
	h, exp, err := db.LeaseHolder(ctx, "run")
	if err != nil || h != "a" || !exp.Equal(now.Add(time.Minute)) {
		t.Fatalf("LeaseHolder = %q %v %v, want a until %v", h, exp, err, now.Add(time.Minute))
	}
	// Expired and taken over: the new holder, with its own expiry.
	later := now.Add(2 * time.Minute)
	if ok, err := db.AcquireLease(ctx, "run", "b", time.Minute, later); err != nil || !ok {
		t.Fatalf("b takes the expired lease: %v %v", ok, err)
	}
	if h, exp, err := db.LeaseHolder(ctx, "run"); err != nil || h != "b" || !exp.Equal(later.Add(time.Minute)) {
		t.Fatalf("after takeover LeaseHolder = %q %v %v", h, exp, err)
	}
	if err := db.ReleaseLease(ctx, "run", "b"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.LeaseHolder(ctx, "run"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("released: err = %v, want ErrNotFound", err)
	}
}
