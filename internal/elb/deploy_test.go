package elb

import (
	"testing"

	"github.com/cutover/cutover/internal/awsproto"
)

func TestTargetGroupARNByName(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(18090)
	for _, tc := range []struct {
		name, want, code string
	}{
		{"blue", f.tgA, ""},
		{"green", f.tgB, ""},
		{"purple", "", "TargetGroupNotFound"},
	} {
		got, err := e.svc.TargetGroupARNByName(e.ctx, tc.name)
		if tc.code != "" {
			if ae := awsproto.AsError(err); ae == nil || ae.Code != tc.code {
				t.Errorf("%s: error %v, want %s", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
