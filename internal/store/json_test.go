package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

type app struct {
	Name     string `json:"name"`
	Platform string `json:"platform"`
}

func TestJSONHelpers(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	rec := &store.Record{Kind: "application", Key: "web", Index: "Server"}
	if err := db.Update(ctx, func(tx store.Tx) error {
		return store.PutJSON(tx, rec, app{Name: "web", Platform: "Server"})
	}); err != nil {
		t.Fatal(err)
	}
	if rec.Version != 1 {
		t.Errorf("Version = %d after PutJSON create", rec.Version)
	}

	// Read-modify-write keeps the version from GetJSON to PutJSON.
	if err := db.Update(ctx, func(tx store.Tx) error {
		a, r, err := store.GetJSON[app](tx, "application", "web")
		if err != nil {
			return err
		}
		a.Platform = "ECS"
		return store.PutJSON(tx, r, a)
	}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		fn      func(tx store.Tx) error
		wantErr error
	}{
		{"get decodes", func(tx store.Tx) error {
			a, r, err := store.GetJSON[app](tx, "application", "web")
			if err != nil {
				return err
			}
			if *a != (app{Name: "web", Platform: "ECS"}) || r.Version != 2 {
				t.Errorf("GetJSON = %+v v%d", *a, r.Version)
			}
			return nil
		}, nil},
		{"get missing", func(tx store.Tx) error {
			_, _, err := store.GetJSON[app](tx, "application", "nope")
			return err
		}, store.ErrNotFound},
		{"list decodes", func(tx store.Tx) error {
			apps, recs, err := store.ListJSON[app](tx, "application", store.ListOptions{})
			if err != nil {
				return err
			}
			if len(apps) != 1 || len(recs) != 1 || apps[0].Platform != "ECS" || recs[0].Key != "web" {
				t.Errorf("ListJSON = %+v %+v", apps, recs)
			}
			return nil
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.View(ctx, tc.fn)
			if !errors.Is(err, tc.wantErr) && !(err == nil && tc.wantErr == nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}

	// A failed PutJSON leaves Data as it was.
	stale := &store.Record{Kind: "application", Key: "web", Data: []byte("old"), Version: 1}
	err = db.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, stale, app{Name: "x"}) })
	if !errors.Is(err, store.ErrConflict) || string(stale.Data) != "old" {
		t.Errorf("stale PutJSON: err %v, Data %q", err, stale.Data)
	}
	// Undecodable data is an error naming the record.
	if err := db.Update(ctx, func(tx store.Tx) error {
		return tx.Put(&store.Record{Kind: "application", Key: "bad", Data: []byte("{")})
	}); err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx store.Tx) error { _, _, err := store.GetJSON[app](tx, "application", "bad"); return err })
	if err == nil {
		t.Error("GetJSON of invalid JSON succeeded")
	}
}
