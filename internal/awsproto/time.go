package awsproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// Time is a timestamp on the JSON protocols: a JSON number of epoch seconds
// with millisecond fraction, as AWS sends it. The Go SDK refuses strings here.
type Time struct{ time.Time }

// NewTime wraps t; a zero t stays zero (and is omitted by `omitzero`).
func NewTime(t time.Time) Time { return Time{t} }

// TimePtr returns a pointer to t, or nil when t is zero, for optional members.
func TimePtr(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}

func (t Time) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return strconv.AppendInt(nil, ms/1000, 10), nil
	}
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', 3, 64), nil
}

func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return &json.UnmarshalTypeError{Value: "string", Type: timeType}
	}
	if f < -62135596800 || f > 253402300799 {
		return fmt.Errorf("timestamp %v out of range", f)
	}
	sec, frac := math.Modf(f)
	*t = Time{time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()}
	return nil
}

var timeType = reflect.TypeFor[Time]()
