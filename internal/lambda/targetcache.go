package lambda

import (
	"context"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// targetTTL bounds how long a resolved target is trusted without a local
// write. Writes through this Service invalidate at once; the bound is for
// writes by another replica sharing the store (PostgreSQL), whose alias
// changes this one sees at most this late.
const targetTTL = time.Second

// targetCache keeps what an invocation target resolves to — the
// configuration a function, version or alias names, and an alias's
// weighted versions — so that a warm invocation does not read the store
// (three records and their JSON) every time. Every write of this
// Service bumps the generation, which empties it.
type targetCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[targetKey]*cachedTarget
}

type targetKey struct{ name, qualifier string }

// cachedTarget is a resolution: config, and for an alias with weights,
// the configuration of each weighted version. It is shared and never
// changed.
type cachedTarget struct {
	gen     uint64
	at      time.Time
	config  *funcConfig
	weights map[string]float64
	// versions are the weighted versions in the order weights are summed.
	versions []string
	configs  map[string]*funcConfig
}

// generation is read before resolving, so that a resolution that raced
// with a write is stored under the old generation and never served.
func (c *targetCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *targetCache) get(k targetKey, now time.Time) *cachedTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.entries[k]
	if t == nil || t.gen != c.gen || now.Sub(t.at) >= targetTTL || now.Before(t.at) {
		return nil
	}
	return t
}

func (c *targetCache) put(k targetKey, t *cachedTarget) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.gen != c.gen {
		return
	}
	if c.entries == nil {
		c.entries = map[targetKey]*cachedTarget{}
	}
	c.entries[k] = t
}

func (c *targetCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// update is store.Update for every write of the service's state: it
// invalidates the target cache once the write is over (committed or not).
func (s *Service) update(ctx context.Context, fn func(tx store.Tx) error) error {
	defer s.targets.invalidate()
	return s.store.Update(ctx, fn)
}

// resolveTarget returns the cached resolution of name:qualifier, reading
// the store on a miss. Errors (no such function, version or alias) are
// not cached.
func (s *Service) resolveTarget(ctx context.Context, name, qualifier string) (*cachedTarget, error) {
	k := targetKey{name, qualifier}
	now := s.clock.Now()
	if t := s.targets.get(k, now); t != nil {
		return t, nil
	}
	t := &cachedTarget{gen: s.targets.generation(), at: now}
	err := s.store.View(ctx, func(tx store.Tx) error {
		res, err := s.resolve(tx, name, qualifier)
		if err != nil {
			return err
		}
		t.config = res.config
		if res.alias == nil || len(res.alias.Weights) == 0 {
			return nil
		}
		t.weights = res.alias.Weights
		t.versions = sortedVersions(res.alias.Weights)
		t.configs = make(map[string]*funcConfig, len(t.versions))
		for _, v := range t.versions {
			if t.configs[v], err = s.getVersion(tx, name, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.targets.put(k, t)
	return t, nil
}
