package storetest

import (
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
)

func testClose(t *testing.T, e *env) {
	e.put(t, &store.Record{Kind: "k", Key: "a"})
	e.closed = true
	if err := e.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Every operation fails cleanly afterwards: an error, no panic, no hang.
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"View", func() error { return e.s.View(e.ctx, func(store.Tx) error { return nil }) }},
		{"Update", func() error {
			return e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Put(&store.Record{Kind: "k", Key: "b"}) })
		}},
		{"AcquireLease", func() error { _, err := e.s.AcquireLease(e.ctx, "l", "a", time.Minute); return err }},
		{"ReleaseLease", func() error { return e.s.ReleaseLease(e.ctx, "l", "a") }},
		{"Leases", func() error { _, err := e.s.Leases(e.ctx, ""); return err }},
	} {
		if err := tc.op(); err == nil {
			t.Errorf("%s after Close succeeded", tc.name)
		}
	}
}
