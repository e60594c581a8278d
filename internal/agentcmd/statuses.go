package agentcmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/cutover/cutover/internal/store"
)

// Statuses reports how each command the engine names in ids stands, read in
// one store transaction: an engine pass over a fleet of thousands of hosts
// asks once rather than once per host. Commands past their deadline are
// timed out first, as Status does. An id never issued is absent from the
// result rather than an error.
func (s *Service) Statuses(ctx context.Context, ids []string) (map[string]CommandState, error) {
	out := make(map[string]CommandState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cmds := make(map[string]*command, len(ids))
	err := s.st.View(ctx, func(tx store.Tx) error {
		clear(cmds)
		for _, id := range ids {
			c, _, err := getCommand(tx, HostCommandID(id))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("reading command %s: %w", id, err)
			}
			cmds[id] = c
		}
		return nil
	})
	if err != nil {
		return nil, wrapStore(fmt.Sprintf("reading %d commands", len(ids)), err)
	}
	now := s.now()
	for id, c := range cmds {
		if due, _ := c.deadline(s.ackTimeout); !due.IsZero() && !now.Before(due) {
			if c, err = s.expire(ctx, c.HostCommandID); err != nil {
				return nil, err
			}
		}
		out[id] = c.state()
	}
	return out, nil
}
