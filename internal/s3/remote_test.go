package s3

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/awsproto"
)

// Remote reads another S3 endpoint — here cutover's own, over HTTP — as the
// in-process Head and Open do.
func TestRemote(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bundles")
	put := e.put("bundles", "app/rev1.tgz", "bundle bytes")
	r := Remote{Client: e.client}
	ctx := context.Background()

	info, err := r.Head(ctx, "bundles", "app/rev1.tgz", "")
	if err != nil || info.Size != 12 || info.ETag != strings.Trim(*put.ETag, `"`) {
		t.Fatalf("Head: %+v %v", info, err)
	}
	local, err := e.svc.Head(ctx, "bundles", "app/rev1.tgz", "")
	if err != nil || local.ETag != info.ETag {
		t.Fatalf("in-process Head %+v %v, remote %+v", local, err, info)
	}
	rc, info, err := r.Open(ctx, "bundles", "app/rev1.tgz", "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "bundle bytes" || info.Size != 12 {
		t.Fatalf("Open: %q %+v", b, info)
	}

	for _, tc := range []struct{ bucket, key, code string }{
		{"bundles", "missing.tgz", "NoSuchKey"},
		{"nobucket", "x.tgz", "NoSuchKey"}, // a HEAD of a missing bucket answers 404 without a body
	} {
		_, err := r.Head(ctx, tc.bucket, tc.key, "")
		if ae := awsproto.AsError(err); ae == nil || ae.Code != tc.code {
			t.Errorf("Head %s/%s: %v, want %s", tc.bucket, tc.key, err, tc.code)
		}
	}
	_, _, err = r.Open(ctx, "bundles", "missing.tgz", "")
	if ae := awsproto.AsError(err); ae == nil || ae.Code != "NoSuchKey" {
		t.Errorf("Open missing: %v", err)
	}
}
