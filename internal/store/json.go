package store

import (
	"encoding/json"
	"fmt"
)

// Services keep their resources as JSON in Record.Data; these helpers are the
// one place that encodes and decodes it, so every caller wraps errors the
// same way and nobody forgets to carry the version from read to write.

// GetJSON reads kind/key and decodes its Data into a new T. The Record is
// returned too (with Data) so the caller can Put it back at its version.
func GetJSON[T any](tx Tx, kind, key string) (*T, *Record, error) {
	rec, err := tx.Get(kind, key)
	if err != nil {
		return nil, nil, err
	}
	v := new(T)
	if err := json.Unmarshal(rec.Data, v); err != nil {
		return nil, nil, fmt.Errorf("store: decode %s %q: %w", kind, key, err)
	}
	return v, rec, nil
}

// PutJSON encodes v into rec.Data and Puts rec, with Put's version rules
// (rec.Version 0 creates). If encoding or Put fails, rec.Data is left as it
// was.
func PutJSON(tx Tx, rec *Record, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s %q: %w", rec.Kind, rec.Key, err)
	}
	old := rec.Data
	rec.Data = data
	if err := tx.Put(rec); err != nil {
		rec.Data = old
		return err
	}
	return nil
}

// ListJSON lists kind with opts and decodes every record's Data into a T;
// values[i] belongs to recs[i].
func ListJSON[T any](tx Tx, kind string, opts ListOptions) (values []*T, recs []*Record, err error) {
	recs, err = tx.List(kind, opts)
	if err != nil {
		return nil, nil, err
	}
	values = make([]*T, len(recs))
	for i, rec := range recs {
		v := new(T)
		if err := json.Unmarshal(rec.Data, v); err != nil {
			return nil, nil, fmt.Errorf("store: decode %s %q: %w", kind, rec.Key, err)
		}
		values[i] = v
	}
	return values, recs, nil
}
