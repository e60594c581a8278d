package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/cutover/cutover/internal/store"
)

// tokenKeyRecord names the key that signs paging tokens (nextToken,
// NextMarker). It lives in the store, not in the process, so a token stays
// valid across restarts and is accepted by every replica sharing the store.
const (
	secretKind     = "cutover.secret"
	tokenKeyRecord = "paging-token-key"
)

// pagingTokenKey returns the stored key, creating it on first start. Two
// replicas starting at once both try to create it; the loser reads the
// winner's.
func pagingTokenKey(ctx context.Context, st store.Store) ([]byte, error) {
	for range 2 {
		var key []byte
		err := st.View(ctx, func(tx store.Tx) error {
			rec, err := tx.Get(secretKind, tokenKeyRecord)
			if err != nil {
				return err
			}
			key = rec.Data
			return nil
		})
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("reading the paging token key: %w", err)
		}
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return nil, fmt.Errorf("generating the paging token key: %w", err)
		}
		err = st.Update(ctx, func(tx store.Tx) error {
			return tx.Put(&store.Record{Kind: secretKind, Key: tokenKeyRecord, Data: fresh})
		})
		if err == nil {
			return fresh, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("storing the paging token key: %w", err)
		}
	}
	return nil, errors.New("paging token key: created and lost twice")
}
