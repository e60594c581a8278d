package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// keyCache keeps derived signing keys: deriving one takes four HMACs, and a
// client signs every request of a day with the same key. The secret is kept
// beside the key so that a rotated secret is never served from the cache.
type keyCache struct {
	mu sync.RWMutex
	m  map[scope]cachedKey
}

type cachedKey struct {
	secret string
	key    [sha256.Size]byte
}

// maxCachedKeys bounds the cache; past it the cache starts over, which
// only costs a few derivations.
const maxCachedKeys = 4096

func (c *keyCache) signingKey(s scope, secret string) [sha256.Size]byte {
	k := scope{accessKey: s.accessKey, day: s.day, region: s.region, service: s.service}
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok && e.secret == secret {
		return e.key
	}
	key := deriveKey(secret, s.day, s.region, s.service)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = make(map[scope]cachedKey)
	}
	c.m[k] = cachedKey{secret: secret, key: key}
	c.mu.Unlock()
	return key
}

func deriveKey(secret, day, region, service string) [sha256.Size]byte {
	k := hmacSum([]byte("AWS4"+secret), day)
	k = hmacSum(k[:], region)
	k = hmacSum(k[:], service)
	return hmacSum(k[:], terminator)
}

func hmacSum(key []byte, data string) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}
