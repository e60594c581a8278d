package awsproto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"sync/atomic"
)

// ErrBadToken is returned for a paging token that was not issued by this
// server for this scope (tampered, truncated, from another operation, or
// signed with an older key). Callers answer it with their service's
// InvalidNextTokenException.
var ErrBadToken = errors.New("awsproto: invalid paging token")

// DefaultPageSize is the page size AWS's CodeDeploy list operations use.
const DefaultPageSize = 100

const (
	tokenMACSize = 16
	// maxTokenLen bounds the work a client can make us do with a token.
	maxTokenLen = 4096
)

var tokenKey atomic.Pointer[[]byte]

func init() {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("awsproto: no randomness for the paging key: " + err.Error())
	}
	tokenKey.Store(&k)
}

// SetTokenKey sets the key that signs paging tokens, so that tokens stay
// valid across restarts and replicas. Without it a random key is used.
func SetTokenKey(key []byte) {
	k := append([]byte(nil), key...)
	tokenKey.Store(&k)
}

// TokenScope names what a token pages through (usually the operation, plus
// anything that fixes the listing such as an application name). A token is
// only accepted by the scope that issued it.
type TokenScope string

// Encode makes an opaque, tamper-evident token carrying v as JSON.
func (sc TokenScope) Encode(v any) string {
	payload, err := json.Marshal(v)
	if err != nil {
		// Token payloads are our own plain structs; failing here is a bug.
		panic("awsproto: encoding paging token: " + err.Error())
	}
	buf := make([]byte, 0, tokenMACSize+len(payload))
	buf = append(buf, sc.mac(payload)...)
	buf = append(buf, payload...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// Decode checks tok and unmarshals its payload into v.
func (sc TokenScope) Decode(tok string, v any) error {
	if len(tok) > maxTokenLen {
		return ErrBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < tokenMACSize {
		return ErrBadToken
	}
	mac, payload := raw[:tokenMACSize], raw[tokenMACSize:]
	if !hmac.Equal(mac, sc.mac(payload)) {
		return ErrBadToken
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return ErrBadToken
	}
	return nil
}

func (sc TokenScope) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, *tokenKey.Load())
	m.Write([]byte(sc))
	m.Write([]byte{0}) // keeps scope "a" + payload "b..." apart from scope "ab" + "..."
	m.Write(payload)
	return m.Sum(nil)[:tokenMACSize]
}

// EncodeToken is Encode with the scope taken from v's type, so that each
// operation's own token type keeps its tokens apart from the others'. Use
// TokenScope directly when several operations share a token type.
func EncodeToken(v any) string { return typeScope(v).Encode(v) }

// DecodeToken is the counterpart of EncodeToken; v is a pointer to the
// same type that was encoded.
func DecodeToken(tok string, v any) error { return typeScope(v).Decode(tok, v) }

func typeScope(v any) TokenScope {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "type:nil"
	}
	return TokenScope("type:" + t.PkgPath() + "." + t.String())
}

type keyCursor struct {
	After string `json:"a"`
}

// After returns the key a token says to continue after; "" for no token.
func (sc TokenScope) After(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	var c keyCursor
	if err := sc.Decode(tok, &c); err != nil {
		return "", err
	}
	if c.After == "" {
		return "", ErrBadToken
	}
	return c.After, nil
}

// PageKeys cuts one page from keys, the sorted keys that follow the
// cursor (fetch size+1 of them to know whether more remain). size <= 0
// means DefaultPageSize. next is "" on the last page; otherwise it carries
// the page's last key, so successive tokens always move forward.
func PageKeys(sc TokenScope, keys []string, size int) (page []string, next string) {
	if size <= 0 {
		size = DefaultPageSize
	}
	if len(keys) <= size {
		return keys, ""
	}
	page = keys[:size]
	return page, sc.Encode(keyCursor{After: page[len(page)-1]})
}
