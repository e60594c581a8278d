package cbor

import (
	"compress/gzip"
	"io"

	"github.com/cutover/cutover/internal/awsproto"
)

// readGzip inflates a compressed body, bounding the inflated size so a small
// bomb cannot fill memory.
func readGzip(r io.Reader, limit int64) ([]byte, *awsproto.Error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, serializationError("The request body is not valid gzip.")
	}
	defer zr.Close()
	body, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, serializationError("The request body is not valid gzip.")
	}
	if int64(len(body)) > limit {
		return nil, &awsproto.Error{Code: "SerializationException", Message: "The request body is too large.", Status: 413}
	}
	return body, nil
}
