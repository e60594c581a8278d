package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
)

func testCreateAndGet(t *testing.T, e *env) {
	rec := &store.Record{Kind: "application", Key: "app-1", Index: "owner/a", Data: []byte(`{"name":"app-1"}`)}
	e.put(t, rec)
	if rec.Version != 1 {
		t.Errorf("Version after create = %d, want 1", rec.Version)
	}
	got := e.get(t, "application", "app-1")
	if got == nil {
		t.Fatal("Get after create: not found")
	}
	want := store.Record{Kind: "application", Key: "app-1", Index: "owner/a", Data: []byte(`{"name":"app-1"}`), Version: 1}
	if got.Kind != want.Kind || got.Key != want.Key || got.Index != want.Index ||
		!bytes.Equal(got.Data, want.Data) || got.Version != want.Version {
		t.Errorf("Get = %+v, want %+v", *got, want)
	}
	if !got.Created.Equal(rec.Created) || !got.Updated.Equal(rec.Updated) {
		t.Errorf("stored times %v/%v differ from those Put reported %v/%v", got.Created, got.Updated, rec.Created, rec.Updated)
	}
}

func testGetMissing(t *testing.T, e *env) {
	err := e.s.View(e.ctx, func(tx store.Tx) error {
		_, err := tx.Get("application", "nope")
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get missing: err = %v, want ErrNotFound", err)
	}
}

func testUpdateBumpsVersion(t *testing.T, e *env) {
	rec := e.put(t, &store.Record{Kind: "k", Key: "a", Index: "i1", Data: []byte("v1")})
	created := rec.Created
	for want := int64(2); want <= 4; want++ {
		e.advance(time.Millisecond)
		rec.Data = []byte{byte('0' + want)}
		rec.Index = "i" + string(rune('0'+want))
		e.put(t, rec)
		if rec.Version != want {
			t.Fatalf("Version = %d, want %d", rec.Version, want)
		}
		got := e.get(t, "k", "a")
		if got.Version != want || !bytes.Equal(got.Data, rec.Data) || got.Index != rec.Index {
			t.Fatalf("stored %+v after Put %+v", *got, *rec)
		}
		if !got.Created.Equal(created) {
			t.Errorf("Created changed on update: %v, want %v", got.Created, created)
		}
		if !got.Updated.After(created) {
			t.Errorf("Updated %v not after Created %v", got.Updated, created)
		}
	}
}

func testCreateOnlyConflict(t *testing.T, e *env) {
	e.put(t, &store.Record{Kind: "k", Key: "a", Data: []byte("first")})
	second := &store.Record{Kind: "k", Key: "a", Data: []byte("second")}
	err := e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Put(second) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create over existing: err = %v, want ErrConflict", err)
	}
	if second.Version != 0 {
		t.Errorf("failed create changed Version to %d", second.Version)
	}
	if got := e.get(t, "k", "a"); string(got.Data) != "first" || got.Version != 1 {
		t.Errorf("record after refused create = %q v%d, want first v1", got.Data, got.Version)
	}
}

func testStaleVersionConflict(t *testing.T, e *env) {
	rec := e.put(t, &store.Record{Kind: "k", Key: "a", Data: []byte("v1")})
	rec.Data = []byte("v2")
	e.put(t, rec) // now at version 2

	for _, tc := range []struct {
		name    string
		key     string
		version int64
	}{
		{"older", "a", 1},
		{"newer", "a", 3},
		{"negative", "a", -1},
		{"missing record", "b", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &store.Record{Kind: "k", Key: tc.key, Data: []byte("lost"), Version: tc.version}
			err := e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Put(w) })
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("Put at version %d: err = %v, want ErrConflict", tc.version, err)
			}
			if w.Version != tc.version {
				t.Errorf("refused Put changed Version from %d to %d", tc.version, w.Version)
			}
		})
	}
	if got := e.get(t, "k", "a"); string(got.Data) != "v2" || got.Version != 2 {
		t.Errorf("record after conflicts = %q v%d, want v2 v2", got.Data, got.Version)
	}
	if got := e.get(t, "k", "b"); got != nil {
		t.Errorf("a conflicting Put created %+v", *got)
	}
}

func testDeleteWithVersion(t *testing.T, e *env) {
	rec := e.put(t, &store.Record{Kind: "k", Key: "a", Data: []byte("v1")})
	e.put(t, rec) // version 2

	del := func(key string, version int64) error {
		return e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Delete("k", key, version) })
	}
	if err := del("a", 1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Delete at stale version: err = %v, want ErrConflict", err)
	}
	if err := del("a", 3); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Delete at future version: err = %v, want ErrConflict", err)
	}
	if e.get(t, "k", "a") == nil {
		t.Fatal("a refused Delete removed the record")
	}
	if err := del("a", 2); err != nil {
		t.Fatalf("Delete at current version: %v", err)
	}
	if got := e.get(t, "k", "a"); got != nil {
		t.Errorf("record still there after Delete: %+v", *got)
	}
	if err := del("a", 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete of deleted record: err = %v, want ErrNotFound", err)
	}
	// Deleting frees the key for a create.
	again := e.put(t, &store.Record{Kind: "k", Key: "a", Data: []byte("again")})
	if again.Version != 1 {
		t.Errorf("re-created record has Version %d, want 1", again.Version)
	}
}

func testDeleteUnconditional(t *testing.T, e *env) {
	rec := e.put(t, &store.Record{Kind: "k", Key: "a"})
	e.put(t, rec)
	e.put(t, rec) // version 3
	del := func(key string) error {
		return e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Delete("k", key, -1) })
	}
	if err := del("a"); err != nil {
		t.Fatalf("Delete -1: %v", err)
	}
	if e.get(t, "k", "a") != nil {
		t.Error("record still there after Delete -1")
	}
	if err := del("a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete -1 of missing record: err = %v, want ErrNotFound", err)
	}
}

func testKindsAreSeparate(t *testing.T, e *env) {
	e.put(t, &store.Record{Kind: "application", Key: "x", Data: []byte("app")})
	e.put(t, &store.Record{Kind: "deployment", Key: "x", Data: []byte("dep")})
	if got := e.get(t, "application", "x"); string(got.Data) != "app" {
		t.Errorf("application x = %q", got.Data)
	}
	if got := e.get(t, "deployment", "x"); string(got.Data) != "dep" {
		t.Errorf("deployment x = %q", got.Data)
	}
	if n := e.count(t, "application", store.ListOptions{}); n != 1 {
		t.Errorf("Count(application) = %d, want 1", n)
	}
	if err := e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Delete("application", "x", -1) }); err != nil {
		t.Fatal(err)
	}
	if e.get(t, "deployment", "x") == nil {
		t.Error("deleting application x deleted deployment x")
	}
}

func testDataRoundTrip(t *testing.T, e *env) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"json", []byte(`{"a":[1,2,3],"b":"é"}`)},
		{"binary with NUL and 0xff", []byte{0, 1, 0xff, 0, 0xfe, '\n'}},
		{"one MiB", big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.put(t, &store.Record{Kind: "blob", Key: tc.name, Data: tc.data})
			got := e.get(t, "blob", tc.name)
			// nil and empty are the same to callers; only the bytes count.
			if !bytes.Equal(got.Data, tc.data) {
				t.Errorf("Data round trip: got %d bytes, want %d", len(got.Data), len(tc.data))
			}
		})
	}
}

func testReturnedRecordIsACopy(t *testing.T, e *env) {
	data := []byte("original")
	e.put(t, &store.Record{Kind: "k", Key: "a", Data: data})
	data[0] = 'X' // the caller reuses its buffer after Put
	got := e.get(t, "k", "a")
	if string(got.Data) != "original" {
		t.Fatalf("store kept the caller's buffer: %q", got.Data)
	}
	got.Data[0] = 'Y'
	got.Version = 99
	if again := e.get(t, "k", "a"); string(again.Data) != "original" || again.Version != 1 {
		t.Errorf("mutating a returned Record changed the store: %q v%d", again.Data, again.Version)
	}
}

func testTimestamps(t *testing.T, e *env) {
	before := e.now()
	rec := e.put(t, &store.Record{Kind: "k", Key: "a"})
	after := e.now()
	e.advance(1500 * time.Microsecond)
	mid := e.now()
	rec.Data = []byte("2")
	e.put(t, rec)
	got := e.get(t, "k", "a")

	for name, ts := range map[string]time.Time{"Created": got.Created, "Updated": got.Updated} {
		if ts.Location() != time.UTC {
			t.Errorf("%s is in %v, want UTC", name, ts.Location())
		}
	}
	if e.clock != nil {
		// The store's clock is ours: times must be exact to the nanosecond.
		if !got.Created.Equal(start) {
			t.Errorf("Created = %v, want %v", got.Created.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
		}
		if !got.Updated.Equal(mid) {
			t.Errorf("Updated = %v, want %v", got.Updated.Format(time.RFC3339Nano), mid.Format(time.RFC3339Nano))
		}
	} else {
		// The store may keep its own (server) time: allow some skew.
		const skew = 5 * time.Second
		if got.Created.Before(before.Add(-skew)) || got.Created.After(after.Add(skew)) {
			t.Errorf("Created = %v, not near [%v, %v]", got.Created, before, after)
		}
		if got.Updated.Before(got.Created) {
			t.Errorf("Updated %v before Created %v", got.Updated, got.Created)
		}
	}
	if !got.Created.Equal(rec.Created) || !got.Updated.Equal(rec.Updated) {
		t.Errorf("stored %v/%v, Put reported %v/%v", got.Created, got.Updated, rec.Created, rec.Updated)
	}
}
