package cbor

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

type fuzzIn struct {
	A string             `json:"A"`
	B []float64          `json:"B"`
	C map[string]string  `json:"C"`
	D *struct{ E []int } `json:"D"`
	F bool               `json:"F"`
}

// FuzzDecode: no body may panic the decoder or the handler, and every answer
// is a well-formed CBOR map.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa1, 0x61, 'A', 0x61, 'x'})
	f.Add([]byte{0xbf, 0x61, 'B', 0x9f, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Add([]byte{0xc1, 0xfb, 0x41, 0xd9, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	s := newEcho()
	f.Fuzz(func(t *testing.T, body []byte) {
		var in fuzzIn
		_ = decode(body, &in)
		_, _ = DecodeTime(body)
		req := httptest.NewRequest(http.MethodPost, "/service/Svc/operation/Echo", bytes.NewReader(body))
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var out map[string]any
		if err := Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not a CBOR map: %v", err)
		}
	})
}
