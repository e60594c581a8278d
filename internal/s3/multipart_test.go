package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return fmt.Sprintf(`"%x-%d"`, h.Sum(nil), len(parts))
}

func TestMultipartWithUploadManager(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			e := newEnv(t, envOpt{tls: tlsOn})
			ctx := context.Background()
			e.mkBucket("bkt")
			data := randomBytes(12<<20+123, 1)
			up := manager.NewUploader(e.client, func(u *manager.Uploader) { u.PartSize = 5 << 20; u.Concurrency = 2 })
			res, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big.zip"), Body: bytes.NewReader(data), ContentType: aws.String("application/zip")})
			if err != nil {
				t.Fatal(err)
			}
			want := multipartETag(data[:5<<20], data[5<<20:10<<20], data[10<<20:])
			if *res.ETag != want {
				t.Fatalf("ETag %s, want %s", *res.ETag, want)
			}
			out := must[*s3.GetObjectOutput](t)(e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big.zip")}))
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, data) || *out.ContentType != "application/zip" {
				t.Fatalf("read back %d bytes (want %d), type %s", len(got), len(data), *out.ContentType)
			}
			// GetObject by part number, as newer download managers do.
			p2 := must[*s3.GetObjectOutput](t)(e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big.zip"), PartNumber: aws.Int32(3)}))
			got, _ = io.ReadAll(p2.Body)
			p2.Body.Close()
			if !bytes.Equal(got, data[10<<20:]) || *p2.PartsCount != 3 || *p2.ContentRange != fmt.Sprintf("bytes %d-%d/%d", 10<<20, len(data)-1, len(data)) {
				t.Fatalf("part 3: %d bytes, %v parts, range %s", len(got), p2.PartsCount, *p2.ContentRange)
			}
			_, err = e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big.zip"), PartNumber: aws.Int32(4)})
			wantCode(t, err, "InvalidRange")
			// Nothing of the upload is left.
			lu := must[*s3.ListMultipartUploadsOutput](t)(e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt")}))
			if len(lu.Uploads) != 0 {
				t.Fatalf("uploads left: %+v", lu.Uploads)
			}
		})
	}
}

func TestMultipartOperations(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	c := e.client
	e.mkBucket("bkt")
	create := func(key string) string {
		out := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String(key),
			Metadata: map[string]string{"k": "v"}}))
		return *out.UploadId
	}
	part := func(key, id string, n int32, data []byte) string {
		out := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String(key), UploadId: aws.String(id),
			PartNumber: aws.Int32(n), Body: bytes.NewReader(data)}))
		return *out.ETag
	}
	big := randomBytes(5<<20, 2)
	small := []byte("tail")
	id := create("obj")
	e1 := part("obj", id, 1, big)
	e2 := part("obj", id, 2, small)
	small2 := []byte("small part one")
	e3 := part("obj", id, 3, small2)

	lp := must[*s3.ListPartsOutput](t)(c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("obj"), UploadId: aws.String(id), MaxParts: aws.Int32(2)}))
	if len(lp.Parts) != 2 || *lp.Parts[0].PartNumber != 1 || *lp.Parts[0].Size != 5<<20 || *lp.Parts[1].ETag != e2 || !*lp.IsTruncated {
		t.Fatalf("ListParts: %+v", lp)
	}
	lp = must[*s3.ListPartsOutput](t)(c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("obj"), UploadId: aws.String(id), PartNumberMarker: lp.NextPartNumberMarker}))
	if len(lp.Parts) != 1 || *lp.Parts[0].PartNumber != 3 || *lp.IsTruncated {
		t.Fatalf("ListParts page 2: %+v", lp)
	}
	other := create("other/x")
	lu := must[*s3.ListMultipartUploadsOutput](t)(c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt")}))
	if len(lu.Uploads) != 2 || *lu.Uploads[0].Key != "obj" || *lu.Uploads[0].UploadId != id || *lu.Uploads[1].UploadId != other {
		t.Fatalf("ListMultipartUploads: %+v", lu.Uploads)
	}
	lu = must[*s3.ListMultipartUploadsOutput](t)(c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt"), Delimiter: aws.String("/")}))
	if len(lu.Uploads) != 1 || len(lu.CommonPrefixes) != 1 || *lu.CommonPrefixes[0].Prefix != "other/" {
		t.Fatalf("ListMultipartUploads with delimiter: %+v", lu)
	}

	completeErr := func(id string, parts ...types.CompletedPart) error {
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("obj"), UploadId: aws.String(id),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	}
	cp := func(n int32, etag string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etag)}
	}
	errs := []struct {
		name  string
		id    string
		parts []types.CompletedPart
		code  string
	}{
		{"wrong etag", id, []types.CompletedPart{cp(1, e1), cp(2, `"0123"`)}, "InvalidPart"},
		{"missing part", id, []types.CompletedPart{cp(1, e1), cp(7, e2)}, "InvalidPart"},
		{"order", id, []types.CompletedPart{cp(2, e2), cp(1, e1)}, "InvalidPartOrder"},
		{"small non-last part", id, []types.CompletedPart{cp(1, e1), cp(2, e2), cp(3, e3)}, "EntityTooSmall"},
		{"no parts", id, nil, "MalformedXML"},
		{"unknown upload", "nope", []types.CompletedPart{cp(1, e1)}, "NoSuchUpload"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, completeErr(tt.id, tt.parts...), tt.code) })
	}
	_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("obj"), UploadId: aws.String(id), PartNumber: aws.Int32(10001), Body: bytes.NewReader(small)})
	wantCode(t, err, "InvalidArgument")
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("other-key"), UploadId: aws.String(id), PartNumber: aws.Int32(1), Body: bytes.NewReader(small)})
	wantCode(t, err, "NoSuchUpload")

	// Parts 1 and 2 only: part 3 is dropped with the upload.
	res := must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("obj"), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{cp(1, e1), cp(2, e2)}}}))
	if *res.ETag != multipartETag(big, small) || *res.Key != "obj" || *res.Bucket != "bkt" {
		t.Fatalf("complete: %+v", res)
	}
	if g := e.get("bkt", "obj"); g != string(big)+string(small) {
		t.Fatalf("object of %d bytes", len(g))
	}
	h := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("obj")}))
	if h.Metadata["k"] != "v" {
		t.Fatalf("metadata from CreateMultipartUpload lost: %+v", h.Metadata)
	}
	wantCode(t, completeErr(id, cp(1, e1)), "NoSuchUpload")

	must[*s3.AbortMultipartUploadOutput](t)(c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("other/x"), UploadId: aws.String(other)}))
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("other/x"), UploadId: aws.String(other)})
	wantCode(t, err, "NoSuchUpload")
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("other/x"), UploadId: aws.String(other)})
	wantCode(t, err, "NoSuchUpload")

	// Only the completed object's blob remains on disk.
	e.assertBlobs(1)
}
