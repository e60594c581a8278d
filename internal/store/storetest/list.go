package storetest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/store"
)

func testListOrderedByKey(t *testing.T, e *env) {
	// Byte order, not locale or case-insensitive order: "B" < "a" < "b",
	// "a" < "a/" < "a0" < "aa", and multi-byte UTF-8 after ASCII.
	want := []string{"B", "a", "a/", "a/b", "a0", "aa", "b", "z", "é", "日本"}
	shuffled := slices.Clone(want)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if err := e.s.Update(e.ctx, func(tx store.Tx) error {
		for _, k := range shuffled {
			if err := tx.Put(&store.Record{Kind: "k", Key: k}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := keys(e.list(t, "k", store.ListOptions{})); !slices.Equal(got, want) {
		t.Errorf("List order = %q, want %q", got, want)
	}
	if got := e.list(t, "other", store.ListOptions{}); len(got) != 0 {
		t.Errorf("List of an empty kind = %q", keys(got))
	}
}

// deployments is a small data set for the filter table: key → index.
var deployments = map[string]string{
	"d-001": "app1/blue",
	"d-002": "app1/blue",
	"d-003": "app1/green",
	"d-004": "app2/blue",
	"d-005": "app10/blue",
	"d-006": "",
	"e-001": "app1/blue",
}

func testListFilters(t *testing.T, e *env) {
	if err := e.s.Update(e.ctx, func(tx store.Tx) error {
		for k, idx := range deployments {
			if err := tx.Put(&store.Record{Kind: "deployment", Key: k, Index: idx}); err != nil {
				return err
			}
		}
		// Same keys in another kind must never leak into the results.
		return tx.Put(&store.Record{Kind: "other", Key: "d-001", Index: "app1/blue"})
	}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"all", store.ListOptions{}, []string{"d-001", "d-002", "d-003", "d-004", "d-005", "d-006", "e-001"}},
		{"prefix", store.ListOptions{Prefix: "d-00"}, []string{"d-001", "d-002", "d-003", "d-004", "d-005", "d-006"}},
		{"prefix equal to a key", store.ListOptions{Prefix: "d-003"}, []string{"d-003"}},
		{"prefix matching nothing", store.ListOptions{Prefix: "f"}, nil},
		{"index exact", store.ListOptions{Index: "app1/blue"}, []string{"d-001", "d-002", "e-001"}},
		{"index exact is not a prefix", store.ListOptions{Index: "app1"}, nil},
		{"index prefix", store.ListOptions{IndexPrefix: "app1/"}, []string{"d-001", "d-002", "d-003", "e-001"}},
		{"index prefix without slash", store.ListOptions{IndexPrefix: "app1"}, []string{"d-001", "d-002", "d-003", "d-005", "e-001"}},
		{"after", store.ListOptions{After: "d-004"}, []string{"d-005", "d-006", "e-001"}},
		{"after a missing key", store.ListOptions{After: "d-0045"}, []string{"d-005", "d-006", "e-001"}},
		{"after the last key", store.ListOptions{After: "e-001"}, nil},
		{"limit", store.ListOptions{Limit: 2}, []string{"d-001", "d-002"}},
		{"limit above size", store.ListOptions{Limit: 100}, []string{"d-001", "d-002", "d-003", "d-004", "d-005", "d-006", "e-001"}},
		{"prefix and index", store.ListOptions{Prefix: "d-", Index: "app1/blue"}, []string{"d-001", "d-002"}},
		{"index and after", store.ListOptions{Index: "app1/blue", After: "d-001"}, []string{"d-002", "e-001"}},
		{"index prefix, after and limit", store.ListOptions{IndexPrefix: "app", After: "d-002", Limit: 2}, []string{"d-003", "d-004"}},
		{"prefix, after and limit", store.ListOptions{Prefix: "d-", After: "d-003", Limit: 2}, []string{"d-004", "d-005"}},
		{"after before the prefix", store.ListOptions{Prefix: "d-", After: "a", Limit: 1}, []string{"d-001"}},
		{"after beyond the prefix", store.ListOptions{Prefix: "d-", After: "e"}, nil},
		{"index and index prefix both apply", store.ListOptions{Index: "app1/green", IndexPrefix: "app1/"}, []string{"d-003"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := keys(e.list(t, "deployment", tc.opts))
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("List(%+v) = %q, want %q", tc.opts, got, tc.want)
			}
			// Count ignores Limit and nothing else.
			all := tc.opts
			all.Limit = 0
			if n, want := e.count(t, "deployment", tc.opts), len(e.list(t, "deployment", all)); n != want {
				t.Errorf("Count(%+v) = %d, want %d", tc.opts, n, want)
			}
		})
	}
	// Listed records are complete, not just keys.
	for _, r := range e.list(t, "deployment", store.ListOptions{Index: "app2/blue"}) {
		if r.Kind != "deployment" || r.Index != "app2/blue" || r.Version != 1 || r.Created.IsZero() {
			t.Errorf("listed record incomplete: %+v", *r)
		}
	}
}

func testListPaging(t *testing.T, e *env) {
	const n = 250
	if err := e.s.Update(e.ctx, func(tx store.Tx) error {
		for i := range n {
			if err := tx.Put(&store.Record{Kind: "k", Key: fmt.Sprintf("key-%04d", i), Index: fmt.Sprint(i % 3)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []string{"", "0", "1"} {
		var seen []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatal("paging does not end")
			}
			page := e.list(t, "k", store.ListOptions{Index: idx, After: after, Limit: 7})
			if len(page) == 0 {
				break
			}
			seen = append(seen, keys(page)...)
			after = page[len(page)-1].Key
		}
		want := keys(e.list(t, "k", store.ListOptions{Index: idx}))
		if !slices.Equal(seen, want) {
			t.Errorf("index %q: paging saw %d keys, one List %d", idx, len(seen), len(want))
		}
		if idx == "" && len(seen) != n {
			t.Errorf("paging saw %d keys, want %d", len(seen), n)
		}
	}
}

func testListKeysOnly(t *testing.T, e *env) {
	if err := e.s.Update(e.ctx, func(tx store.Tx) error {
		for i := range 5 {
			if err := tx.Put(&store.Record{Kind: "k", Key: fmt.Sprintf("key-%d", i), Index: "ix", Data: []byte("body")}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	full := e.list(t, "k", store.ListOptions{Index: "ix", After: "key-0", Limit: 3})
	bare := e.list(t, "k", store.ListOptions{Index: "ix", After: "key-0", Limit: 3, KeysOnly: true})
	if !slices.Equal(keys(full), keys(bare)) || len(bare) != 3 {
		t.Fatalf("KeysOnly listed %v, full list %v", keys(bare), keys(full))
	}
	for _, r := range bare {
		if !reflect.DeepEqual(*r, store.Record{Kind: "k", Key: r.Key}) {
			t.Errorf("KeysOnly record %+v has more than Kind and Key", *r)
		}
	}
}

// edgeKeys are keys that break naive prefix matching: LIKE wildcards, the
// separator, multi-byte UTF-8, and raw 0xff bytes (which an implementation
// that computes "prefix + 0xff" as the upper bound, or that keeps keys as
// UTF-8 text, gets wrong). Keys are compared as bytes.
var edgeKeys = []string{
	"a", "a/", "a/b", "a/b/c", "a/bc", "a0", "a%", "a%b", "a_", "a_b", "ab", "aB",
	"%", "_", "/", "é", "é/x", "éa", "日", "日本", "\U0010FFFF", "\U0010FFFFa",
	"a\xff", "a\xffb", "a\xff\xff", "b", "\xff", "\xff\xff", "\xffa",
}

func testPrefixEdgeCases(t *testing.T, e *env) {
	if err := e.s.Update(e.ctx, func(tx store.Tx) error {
		for _, k := range edgeKeys {
			// The key doubles as its index, to check IndexPrefix the same way.
			if err := tx.Put(&store.Record{Kind: "edge", Key: k, Index: k}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(edgeKeys)
	slices.Sort(sorted)
	if got := keys(e.list(t, "edge", store.ListOptions{})); !slices.Equal(got, sorted) {
		t.Fatalf("keys not in byte order:\n got %q\nwant %q", got, sorted)
	}

	for _, p := range []string{"a", "a/", "a/b", "a%", "a_", "%", "_", "é", "日", "\U0010FFFF", "a\xff", "a\xff\xff", "\xff", "\xff\xff", "a\xffb", "zz"} {
		var want []string
		for _, k := range sorted {
			if strings.HasPrefix(k, p) {
				want = append(want, k)
			}
		}
		t.Run(fmt.Sprintf("%q", p), func(t *testing.T) {
			got := keys(e.list(t, "edge", store.ListOptions{Prefix: p}))
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("Prefix %q = %q, want %q", p, got, want)
			}
			if n := e.count(t, "edge", store.ListOptions{Prefix: p}); n != len(want) {
				t.Errorf("Count Prefix %q = %d, want %d", p, n, len(want))
			}
			got = keys(e.list(t, "edge", store.ListOptions{IndexPrefix: p}))
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("IndexPrefix %q = %q, want %q", p, got, want)
			}
			if r := e.get(t, "edge", p); r != nil {
				got = keys(e.list(t, "edge", store.ListOptions{Index: p}))
				if !slices.Equal(got, []string{p}) {
					t.Errorf("Index %q = %q, want just itself", p, got)
				}
			}
		})
	}
}
