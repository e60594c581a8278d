package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
)

func (e *env) acquire(t *testing.T, name, owner string, ttl time.Duration) store.Lease {
	t.Helper()
	l, err := e.s.AcquireLease(e.ctx, name, owner, ttl)
	if err != nil {
		t.Fatalf("AcquireLease(%q, %q): %v", name, owner, err)
	}
	if l.Name != name || l.Owner != owner {
		t.Fatalf("AcquireLease(%q, %q) = %+v", name, owner, l)
	}
	return l
}

func (e *env) refused(t *testing.T, name, owner string, ttl time.Duration) {
	t.Helper()
	l, err := e.s.AcquireLease(e.ctx, name, owner, ttl)
	if !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("AcquireLease(%q, %q) = %+v, %v; want ErrLeaseHeld", name, owner, l, err)
	}
}

// checkExpires checks that l expires ttl after the store's time at the call
// (exactly with a fake clock).
func (e *env) checkExpires(t *testing.T, l store.Lease, before time.Time, ttl time.Duration) {
	t.Helper()
	if l.Expires.Location() != time.UTC {
		t.Errorf("Expires in %v, want UTC", l.Expires.Location())
	}
	if e.clock != nil {
		if want := before.Add(ttl); !l.Expires.Equal(want) {
			t.Errorf("Expires = %v, want exactly %v", l.Expires.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
		return
	}
	const skew = 5 * time.Second
	if l.Expires.Before(before.Add(ttl-skew)) || l.Expires.After(e.now().Add(ttl+skew)) {
		t.Errorf("Expires = %v, not about %v from now", l.Expires, ttl)
	}
}

// sameLease compares leases field by field (time.Time by Equal, since ==
// also compares location pointers).
func sameLease(a, b store.Lease) bool {
	return a.Name == b.Name && a.Owner == b.Owner && a.Epoch == b.Epoch && a.Expires.Equal(b.Expires)
}

func (e *env) leases(t *testing.T, prefix string) []store.Lease {
	t.Helper()
	ls, err := e.s.Leases(e.ctx, prefix)
	if err != nil {
		t.Fatalf("Leases(%q): %v", prefix, err)
	}
	return ls
}

func testLeaseAcquireAndRenew(t *testing.T, e *env) {
	ttl := e.ttl()
	before := e.now()
	first := e.acquire(t, "deployment/d-1", "replica-a", ttl)
	if first.Epoch < 1 {
		t.Errorf("first Epoch = %d, want >= 1", first.Epoch)
	}
	e.checkExpires(t, first, before, ttl)

	// Renewing before expiry extends it and keeps the epoch: same owner.
	e.advance(ttl / 3)
	before = e.now()
	renewed := e.acquire(t, "deployment/d-1", "replica-a", ttl)
	if renewed.Epoch != first.Epoch {
		t.Errorf("renewal changed Epoch %d → %d", first.Epoch, renewed.Epoch)
	}
	if !renewed.Expires.After(first.Expires) {
		t.Errorf("renewal did not extend: %v → %v", first.Expires, renewed.Expires)
	}
	e.checkExpires(t, renewed, before, ttl)

	ls := e.leases(t, "deployment/")
	if len(ls) != 1 || !sameLease(ls[0], renewed) {
		t.Errorf("Leases = %+v, want [%+v]", ls, renewed)
	}
}

func testLeaseHeldByOther(t *testing.T, e *env) {
	ttl := e.ttl()
	held := e.acquire(t, "l", "a", ttl)
	e.refused(t, "l", "b", ttl)
	e.advance(ttl / 3)
	e.refused(t, "l", "b", ttl)
	// The refusal changed nothing.
	if ls := e.leases(t, "l"); len(ls) != 1 || !sameLease(ls[0], held) {
		t.Errorf("Leases after refusals = %+v, want [%+v]", ls, held)
	}
	// Other names are independent.
	e.acquire(t, "l2", "b", ttl)
}

func testLeaseTakeoverAfterExpiry(t *testing.T, e *env) {
	ttl := e.ttl()
	a := e.acquire(t, "l", "a", ttl)
	e.advance(ttl + ttl/3)
	b := e.acquire(t, "l", "b", ttl)
	if b.Epoch != a.Epoch+1 {
		t.Errorf("takeover Epoch = %d, want %d", b.Epoch, a.Epoch+1)
	}
	// The former owner learns it lost the lease.
	e.refused(t, "l", "a", ttl)
	// The new owner renews at its own epoch.
	if again := e.acquire(t, "l", "b", ttl); again.Epoch != b.Epoch {
		t.Errorf("renewal after takeover: Epoch %d, want %d", again.Epoch, b.Epoch)
	}
	// The same owner coming back after its own lease lapsed, with nobody
	// in between, is not a change of owner.
	e.advance(ttl + ttl/3)
	if back := e.acquire(t, "l", "b", ttl); back.Epoch != b.Epoch {
		t.Errorf("re-acquire by the same owner after expiry: Epoch %d, want %d", back.Epoch, b.Epoch)
	}
}

// testLeaseExpiryBoundary: a lease is fresh strictly before Expires and free
// from Expires on. Needs the fake clock to hit the instant.
func testLeaseExpiryBoundary(t *testing.T, e *env) {
	if e.clock == nil {
		t.Skip("needs WithClock")
	}
	ttl := e.ttl()
	a := e.acquire(t, "l", "a", ttl)
	e.clock.Advance(ttl - time.Nanosecond)
	e.refused(t, "l", "b", ttl)
	e.clock.Advance(time.Nanosecond)
	if !e.now().Equal(a.Expires) {
		t.Fatalf("clock %v, Expires %v", e.now(), a.Expires)
	}
	if b := e.acquire(t, "l", "b", ttl); b.Epoch != a.Epoch+1 {
		t.Errorf("Epoch = %d, want %d", b.Epoch, a.Epoch+1)
	}
}

func testLeaseRelease(t *testing.T, e *env) {
	ttl := e.ttl()
	a := e.acquire(t, "l", "a", ttl)

	// Someone else releasing a fresh lease is refused and changes nothing.
	if err := e.s.ReleaseLease(e.ctx, "l", "b"); !errors.Is(err, store.ErrLeaseHeld) {
		t.Errorf("ReleaseLease by a non-owner: %v, want ErrLeaseHeld", err)
	}
	e.refused(t, "l", "b", ttl)

	if err := e.s.ReleaseLease(e.ctx, "l", "a"); err != nil {
		t.Fatalf("ReleaseLease by the owner: %v", err)
	}
	if ls := e.leases(t, ""); len(ls) != 0 {
		t.Errorf("Leases after release = %+v, want none", ls)
	}
	// Released: free at once, no waiting for expiry, and a new epoch.
	b := e.acquire(t, "l", "b", ttl)
	if b.Epoch != a.Epoch+1 {
		t.Errorf("Epoch after release = %d, want %d", b.Epoch, a.Epoch+1)
	}
	// The former owner releasing again is refused: b holds it now.
	if err := e.s.ReleaseLease(e.ctx, "l", "a"); !errors.Is(err, store.ErrLeaseHeld) {
		t.Errorf("stale ReleaseLease: %v, want ErrLeaseHeld", err)
	}
	if ls := e.leases(t, "l"); len(ls) != 1 || !sameLease(ls[0], b) {
		t.Errorf("Leases = %+v, want [%+v]", ls, b)
	}
	// Epochs never repeat: releasing and re-taking by the same owner is a
	// new claim too, so a fencing check by epoch stays sound.
	if err := e.s.ReleaseLease(e.ctx, "l", "b"); err != nil {
		t.Fatal(err)
	}
	if b2 := e.acquire(t, "l", "b", ttl); b2.Epoch <= b.Epoch {
		t.Errorf("re-acquire after release: Epoch %d, want > %d", b2.Epoch, b.Epoch)
	}
	// Releasing what nobody holds, or never existed, is a no-op.
	if err := e.s.ReleaseLease(e.ctx, "never", "a"); err != nil {
		t.Errorf("ReleaseLease of an unknown lease: %v", err)
	}
}

func testLeaseList(t *testing.T, e *env) {
	ttl := e.ttl()
	names := []string{"deployment/d-1", "deployment/d-10", "deployment/d-2", "deployment%", "deployments/x", "watch/r-1", "é/1", "\xff"}
	for i, n := range names {
		e.acquire(t, n, fmt.Sprintf("owner-%d", i), ttl)
	}
	if err := e.s.ReleaseLease(e.ctx, "deployment/d-2", "owner-2"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"deployment%", "deployment/d-1", "deployment/d-10", "deployments/x", "watch/r-1", "é/1", "\xff"}},
		{"deployment/", []string{"deployment/d-1", "deployment/d-10"}},
		{"deployment/d-1", []string{"deployment/d-1", "deployment/d-10"}},
		{"deployment", []string{"deployment%", "deployment/d-1", "deployment/d-10", "deployments/x"}},
		{"deployment%", []string{"deployment%"}},
		{"é", []string{"é/1"}},
		{"\xff", []string{"\xff"}},
		{"nothing", nil},
	} {
		t.Run(fmt.Sprintf("%q", tc.prefix), func(t *testing.T) {
			ls := e.leases(t, tc.prefix)
			var got []string
			for _, l := range ls {
				got = append(got, l.Name)
				if l.Owner == "" || l.Epoch < 1 || l.Expires.IsZero() {
					t.Errorf("incomplete lease %+v", l)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Leases(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
		})
	}
}

func testLeaseConcurrentAcquire(t *testing.T, e *env) {
	const workers = 16
	ttl := e.ttl()
	type result struct {
		l   store.Lease
		err error
	}
	results := make(chan result, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			l, err := e.s.AcquireLease(e.ctx, "contended", fmt.Sprintf("owner-%d", w), ttl)
			results <- result{l, err}
		})
	}
	wg.Wait()
	close(results)
	var winners []store.Lease
	for r := range results {
		switch {
		case r.err == nil:
			winners = append(winners, r.l)
		case !errors.Is(r.err, store.ErrLeaseHeld):
			t.Errorf("AcquireLease: %v, want nil or ErrLeaseHeld", r.err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d owners acquired one lease: %+v", len(winners), winners)
	}
	if ls := e.leases(t, "contended"); len(ls) != 1 || !sameLease(ls[0], winners[0]) {
		t.Errorf("Leases = %+v, want the winner %+v", ls, winners[0])
	}
}
