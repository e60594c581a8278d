package elb

import (
	"github.com/cutover/cutover/internal/awsproto"
)

const defaultPageSize = 400

// page cuts one page out of items. The Marker is an awsproto paging token
// scoped to the operation (so a marker from one Describe call is refused by
// another, and a tampered one is refused everywhere) carrying the offset of
// the next item. Offsets suit ELBv2's Describe calls, which list a bounded
// set (at most a few hundred resources) re-read on every call.
func page[T any](op string, items []T, marker *string, pageSize *int32) ([]T, *string, error) {
	scope := awsproto.TokenScope("elbv2." + op)
	start := 0
	if marker != nil && *marker != "" {
		var off int
		if err := scope.Decode(*marker, &off); err != nil || off < 0 || off > len(items) {
			return nil, nil, validationf("The marker '%s' is not valid", *marker)
		}
		start = off
	}
	size := defaultPageSize
	if pageSize != nil {
		size = int(*pageSize)
	}
	end := min(start+size, len(items))
	var next *string
	if end < len(items) {
		next = ptr(scope.Encode(end))
	}
	return items[start:end], next, nil
}
