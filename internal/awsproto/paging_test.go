package awsproto

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

type appsToken struct {
	After string `json:"after"`
}

type groupsToken struct {
	After string `json:"after"`
}

func TestTokenRoundTrip(t *testing.T) {
	tok := EncodeToken(appsToken{After: "app-7"})
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not base64url without padding", tok)
	}
	var got appsToken
	if err := DecodeToken(tok, &got); err != nil || got.After != "app-7" {
		t.Fatalf("DecodeToken = %+v, %v", got, err)
	}
	if strings.Contains(tok, "app-7") {
		t.Fatal("token shows its content in the clear")
	}
}

func TestTokenRejections(t *testing.T) {
	good := EncodeToken(appsToken{After: "a"})
	// Change a character in the middle: the last one may only carry
	// padding bits that decoding ignores.
	raw := []byte(good)
	mid := len(raw) / 2
	if raw[mid] == 'A' {
		raw[mid] = 'B'
	} else {
		raw[mid] = 'A'
	}
	flipped := string(raw)
	tests := []struct {
		name string
		tok  string
		into any
	}{
		{"other type", good, &groupsToken{}},
		{"tampered", flipped, &appsToken{}},
		{"truncated", good[:10], &appsToken{}},
		{"not base64", "!!!!", &appsToken{}},
		{"empty", "", &appsToken{}},
		{"huge", strings.Repeat("A", maxTokenLen+1), &appsToken{}},
		{"other scope", TokenScope("ListDeploymentGroups").Encode(appsToken{After: "a"}), &appsToken{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := DecodeToken(tt.tok, tt.into); !errors.Is(err, ErrBadToken) {
				t.Fatalf("err = %v, want ErrBadToken", err)
			}
		})
	}
}

func TestScopedTokens(t *testing.T) {
	apps, groups := TokenScope("ListApplications"), TokenScope("ListDeploymentGroups:app")
	tok := apps.Encode(keyCursor{After: "x"})
	if _, err := groups.After(tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("ListDeploymentGroups accepted a ListApplications token: %v", err)
	}
	if after, err := apps.After(tok); err != nil || after != "x" {
		t.Fatalf("After = %q, %v", after, err)
	}
	if after, err := apps.After(""); err != nil || after != "" {
		t.Fatalf("After(\"\") = %q, %v", after, err)
	}
	if _, err := apps.After(apps.Encode(keyCursor{})); !errors.Is(err, ErrBadToken) {
		t.Fatal("empty cursor accepted")
	}
}

func TestTokenKeyChange(t *testing.T) {
	defer SetTokenKey([]byte("restore-for-other-tests"))
	SetTokenKey([]byte("one"))
	tok := EncodeToken(appsToken{After: "a"})
	SetTokenKey([]byte("one"))
	if err := DecodeToken(tok, &appsToken{}); err != nil {
		t.Fatalf("same key refused: %v", err)
	}
	SetTokenKey([]byte("two"))
	if err := DecodeToken(tok, &appsToken{}); !errors.Is(err, ErrBadToken) {
		t.Fatal("token accepted after the key changed")
	}
}

// listAll pages through keys as a list operation would: fetch size+1 keys
// after the cursor, cut a page, follow the token.
func listAll(t *testing.T, sc TokenScope, all []string, size int) [][]string {
	t.Helper()
	var pages [][]string
	tok := ""
	seen := map[string]bool{}
	for range len(all) + 2 {
		after, err := sc.After(tok)
		if err != nil {
			t.Fatal(err)
		}
		i, _ := slices.BinarySearch(all, after)
		if after != "" && i < len(all) && all[i] == after {
			i++
		}
		n := size
		if n <= 0 {
			n = DefaultPageSize
		}
		rest := all[i:min(len(all), i+n+1)]
		page, next := PageKeys(sc, rest, size)
		pages = append(pages, page)
		if next == "" {
			return pages
		}
		if seen[next] {
			t.Fatalf("token repeated: %s", next)
		}
		seen[next] = true
		tok = next
	}
	t.Fatal("paging did not end")
	return nil
}

func TestPageKeys(t *testing.T) {
	keys := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("k%04d", i)
		}
		return out
	}
	tests := []struct {
		name      string
		n, size   int
		wantPages []int
	}{
		{"empty", 0, 2, []int{0}},
		{"one short page", 1, 2, []int{1}},
		{"exact page has no token", 2, 2, []int{2}},
		{"one over", 3, 2, []int{2, 1}},
		{"several", 7, 3, []int{3, 3, 1}},
		{"default size", 250, 0, []int{100, 100, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := keys(tt.n)
			pages := listAll(t, "ListApplications", all, tt.size)
			var sizes []int
			var got []string
			for _, p := range pages {
				sizes = append(sizes, len(p))
				got = append(got, p...)
			}
			if !slices.Equal(sizes, tt.wantPages) {
				t.Fatalf("page sizes %v, want %v", sizes, tt.wantPages)
			}
			if !slices.Equal(got, all) && !(len(got) == 0 && len(all) == 0) {
				t.Fatal("pages do not add up to the keys")
			}
		})
	}
}

func FuzzDecodeToken(f *testing.F) {
	f.Add(EncodeToken(appsToken{After: "a"}))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		var v appsToken
		if err := DecodeToken(tok, &v); err != nil && !errors.Is(err, ErrBadToken) {
			t.Fatalf("unexpected error kind %v", err)
		}
	})
}
