package elb

import (
	"encoding/base64"
	"strconv"
	"strings"
)

const defaultPageSize = 400

// page cuts one page out of items. The marker is opaque to clients: the
// offset of the next item, tagged with the operation so that a marker from
// one Describe call is refused by another.
// TODO: move to awsproto.EncodeToken/DecodeToken once they land.
func page[T any](op string, items []T, marker *string, pageSize *int32) ([]T, *string, error) {
	start := 0
	if marker != nil && *marker != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*marker)
		prefix, num, ok := strings.Cut(string(raw), ":")
		n, aerr := strconv.Atoi(num)
		if err != nil || !ok || prefix != op || aerr != nil || n < 0 || n > len(items) {
			return nil, nil, validationf("The marker '%s' is not valid", *marker)
		}
		start = n
	}
	size := defaultPageSize
	if pageSize != nil {
		size = int(*pageSize)
	}
	end := min(start+size, len(items))
	var next *string
	if end < len(items) {
		next = ptr(base64.RawURLEncoding.EncodeToString([]byte(op + ":" + strconv.Itoa(end))))
	}
	return items[start:end], next, nil
}
