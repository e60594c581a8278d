package s3

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBuckets(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	c := e.client
	e.mkBucket("alpha")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("beta"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{}}); err != nil {
		t.Fatalf("empty LocationConstraint body: %v", err)
	}
	// us-east-1 answers the owner's repeated create with 200, changing nothing.
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("repeated create in us-east-1: %v, want success as S3 answers there", err)
	}
	if out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil || len(out.Buckets) != 2 {
		t.Fatalf("after a repeated create: %v, %d buckets, want 2", err, len(out.Buckets))
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"upper case name", func() error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Alpha")})
			return err
		}, "InvalidBucketName"},
		{"short name", func() error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ab")})
			return err
		}, "InvalidBucketName"},
		{"ip name", func() error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("192.168.5.4")})
			return err
		}, "InvalidBucketName"},
		{"other region", func() error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gamma"),
				CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})
			return err
		}, "IllegalLocationConstraintException"},
		{"head missing", func() error {
			_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")})
			return err
		}, "NotFound"},
		{"delete missing", func() error {
			_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("nope")})
			return err
		}, "NoSuchBucket"},
		{"list objects of missing", func() error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nope")})
			return err
		}, "NoSuchBucket"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), tt.code) })
	}

	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatal(err)
	}
	lb := must[*s3.ListBucketsOutput](t)(c.ListBuckets(ctx, &s3.ListBucketsInput{}))
	if len(lb.Buckets) != 2 || *lb.Buckets[0].Name != "alpha" || *lb.Buckets[1].Name != "beta" || lb.Buckets[0].CreationDate == nil {
		t.Fatalf("ListBuckets: %+v", lb.Buckets)
	}
	loc := must[*s3.GetBucketLocationOutput](t)(c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")}))
	if loc.LocationConstraint != "" {
		t.Fatalf("location %q", loc.LocationConstraint)
	}

	e.put("alpha", "k", "v")
	wantCode(t, func() error {
		_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
		return err
	}(), "BucketNotEmpty")
	must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")}))
	// An unfinished multipart upload does not keep the bucket.
	must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("alpha"), Key: aws.String("m")}))
	must[*s3.DeleteBucketOutput](t)(c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")}))
	wantCode(t, func() error {
		_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")})
		return err
	}(), "NotFound")
}

func TestBucketNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"abc", true}, {"my.bucket-1", true}, {"ab", false}, {"a" + string(make([]byte, 63)), false},
		{"-abc", false}, {"abc-", false}, {"a..b", false}, {"ABC", false}, {"a_b", false},
		{"10.0.0.1", false}, {"xn--abc", false}, {"abc-s3alias", false}, {"abc--ol-s3", false},
	}
	for _, tt := range tests {
		if got := validBucketName(tt.name); got != tt.ok {
			t.Errorf("validBucketName(%q) = %v", tt.name, got)
		}
	}
}
