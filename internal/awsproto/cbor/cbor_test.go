package cbor

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

type echoIn struct {
	Name  string   `json:"Name"`
	Items []string `json:"Items"`
	N     *int32   `json:"N"`
}

type echoOut struct {
	Name  string   `json:"Name,omitempty"`
	Count int      `json:"Count"`
	Items []string `json:"Items,omitempty"`
}

func newEcho() *Service {
	s := New(nil, "Svc")
	Handle(s, "Echo", func(ctx context.Context, in *echoIn) (*echoOut, error) {
		if in.Name == "bad" {
			return nil, &awsproto.Error{Code: "ResourceNotFound", Message: "no such thing", Status: 404}
		}
		return &echoOut{Name: in.Name, Count: len(in.Items), Items: in.Items}, nil
	})
	return s
}

func call(t *testing.T, s *Service, path string, body []byte) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	req.Header.Set("Content-Type", ContentType)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var out map[string]any
	if err := Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer is not CBOR: %v (%x)", err, rec.Body.Bytes())
	}
	return rec, out
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServe(t *testing.T) {
	s := newEcho()
	tests := []struct {
		name     string
		path     string
		body     []byte
		status   int
		wantType string
		wantName string
	}{
		{"ok", "/service/Svc/operation/Echo", mustMarshal(t, map[string]any{"Name": "x", "Items": []string{"a", "b"}}), 200, "", "x"},
		{"empty body", "/service/Svc/operation/Echo", nil, 200, "", ""},
		{"modelled error", "/service/Svc/operation/Echo", mustMarshal(t, map[string]any{"Name": "bad"}), 404, "ResourceNotFound", ""},
		{"unknown op", "/service/Svc/operation/Nope", nil, 404, "UnknownOperationException", ""},
		{"other service", "/service/Other/operation/Echo", nil, 404, "UnknownOperationException", ""},
		{"not a map", "/service/Svc/operation/Echo", mustMarshal(t, []int{1}), 400, "SerializationException", ""},
		{"wrong type", "/service/Svc/operation/Echo", mustMarshal(t, map[string]any{"Name": 5}), 400, "SerializationException", ""},
		{"truncated", "/service/Svc/operation/Echo", []byte{0xa1, 0x64, 'N'}, 400, "SerializationException", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, out := call(t, s, tc.path, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %v", rec.Code, tc.status, out)
			}
			if rec.Header().Get("Smithy-Protocol") != "rpc-v2-cbor" || rec.Header().Get("Content-Type") != ContentType {
				t.Errorf("headers %v", rec.Header())
			}
			if got, _ := out["__type"].(string); got != tc.wantType {
				t.Errorf("__type %q, want %q", got, tc.wantType)
			}
			if tc.wantName != "" && out["Name"] != tc.wantName {
				t.Errorf("Name %v", out["Name"])
			}
		})
	}
}

func TestMatch(t *testing.T) {
	s := newEcho()
	for _, tc := range []struct {
		path, proto string
		want        bool
	}{
		{"/service/Svc/operation/Echo", "rpc-v2-cbor", true},
		{"/prefix/service/Svc/operation/Echo", "rpc-v2-cbor", true},
		{"/service/Svc/operation/Echo", "", false},
		{"/service/Other/operation/Echo", "rpc-v2-cbor", false},
		{"/", "rpc-v2-cbor", false},
	} {
		r := httptest.NewRequest(http.MethodPost, tc.path, nil)
		if tc.proto != "" {
			r.Header.Set("Smithy-Protocol", tc.proto)
		}
		if got := s.Match(r); got != tc.want {
			t.Errorf("Match(%s, %q) = %v", tc.path, tc.proto, got)
		}
	}
}

func TestTimeRoundTrip(t *testing.T) {
	for _, want := range []time.Time{
		time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC),
		time.Unix(0, 0).UTC(),
	} {
		b, err := EncodeTime(want)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != 0xc1 {
			t.Errorf("%v: not tag 1: %x", want, b)
		}
		got, err := DecodeTime(b)
		if err != nil || !got.Equal(want) {
			t.Errorf("DecodeTime(%x) = %v, %v; want %v", b, got, err, want)
		}
	}
	// Integer seconds inside tag 1, as some clients send.
	got, err := DecodeTime([]byte{0xc1, 0x1a, 0x69, 0x25, 0x7e, 0x20})
	if err != nil || got.Unix() != 0x69257e20 {
		t.Errorf("int tag: %v %v", got, err)
	}
	if _, err := DecodeTime(mustMarshal(t, "x")); err == nil {
		t.Error("string accepted as a timestamp")
	}
}
