package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/cutover/cutover/internal/awsproto"
)

// Remote reads objects from another S3-compatible store (AWS S3, MinIO,
// ...) through the AWS SDK, with the same Head and Open as Service: a
// server started with --s3-endpoint checks and serves revision bundles and
// function code from there instead of its own data dir.
type Remote struct {
	Client *s3sdk.Client
}

// Head describes an object; a missing bucket, object or version is an
// *awsproto.Error named as S3 names it.
func (r Remote) Head(ctx context.Context, bucket, key, version string) (ObjectInfo, error) {
	in := &s3sdk.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := r.Client.HeadObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, remoteErr(err, bucket, key)
	}
	return ObjectInfo{Bucket: bucket, Key: key, Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`),
		VersionID: aws.ToString(out.VersionId), LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType),
		Metadata: out.Metadata}, nil
}

// Open reads an object.
func (r Remote) Open(ctx context.Context, bucket, key, version string) (io.ReadCloser, ObjectInfo, error) {
	in := &s3sdk.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := r.Client.GetObject(ctx, in)
	if err != nil {
		return nil, ObjectInfo{}, remoteErr(err, bucket, key)
	}
	return out.Body, ObjectInfo{Bucket: bucket, Key: key, Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`),
		VersionID: aws.ToString(out.VersionId), LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType),
		Metadata: out.Metadata}, nil
}

// remoteErr keeps S3's answer as an *awsproto.Error (what callers show
// users) and wraps transport failures.
func remoteErr(err error, bucket, key string) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		var re interface{ HTTPStatusCode() int }
		if code == "NotFound" && errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
			code = "NoSuchKey" // HEAD answers carry no body, so no code
		}
		return awsproto.Errorf(code, "s3://%s/%s: %s", bucket, key, api.ErrorMessage())
	}
	return fmt.Errorf("reading s3://%s/%s: %w", bucket, key, err)
}
