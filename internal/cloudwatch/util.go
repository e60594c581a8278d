package cloudwatch

import (
	"fmt"
	"strconv"
	"strings"
)

func fmtSscan(s string, v *float64) (int, error) {
	if strings.TrimSpace(s) != s || s == "" {
		return 0, fmt.Errorf("bad number %q", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	*v = f
	return 1, nil
}

func ptr[T any](v T) *T { return &v }
