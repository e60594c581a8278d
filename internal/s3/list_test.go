package s3

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestListObjectsV2(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	e.mkBucket("bkt")
	keys := []string{"a/1", "a/2", "a/b/3", "b", "c/x", "c/y", "d e", "z"}
	for _, k := range keys {
		e.put("bkt", k, k)
	}
	type page struct {
		keys, prefixes []string
	}
	collect := func(in s3.ListObjectsV2Input) []page {
		t.Helper()
		in.Bucket = aws.String("bkt")
		var pages []page
		p := s3.NewListObjectsV2Paginator(e.client, &in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var pg page
			for _, o := range out.Contents {
				pg.keys = append(pg.keys, *o.Key)
			}
			for _, cp := range out.CommonPrefixes {
				pg.prefixes = append(pg.prefixes, *cp.Prefix)
			}
			if int(*out.KeyCount) != len(pg.keys)+len(pg.prefixes) {
				t.Fatalf("KeyCount %d for %+v", *out.KeyCount, pg)
			}
			pages = append(pages, pg)
		}
		return pages
	}
	tests := []struct {
		name string
		in   s3.ListObjectsV2Input
		want []page
	}{
		{"all", s3.ListObjectsV2Input{}, []page{{keys: keys}}},
		{"prefix", s3.ListObjectsV2Input{Prefix: aws.String("a/")}, []page{{keys: []string{"a/1", "a/2", "a/b/3"}}}},
		{"delimiter", s3.ListObjectsV2Input{Delimiter: aws.String("/")}, []page{{keys: []string{"b", "d e", "z"}, prefixes: []string{"a/", "c/"}}}},
		{"prefix and delimiter", s3.ListObjectsV2Input{Prefix: aws.String("a/"), Delimiter: aws.String("/")}, []page{{keys: []string{"a/1", "a/2"}, prefixes: []string{"a/b/"}}}},
		{"paged", s3.ListObjectsV2Input{MaxKeys: aws.Int32(3)}, []page{{keys: keys[:3]}, {keys: keys[3:6]}, {keys: keys[6:]}}},
		{"paged with prefixes", s3.ListObjectsV2Input{MaxKeys: aws.Int32(2), Delimiter: aws.String("/")},
			[]page{{keys: []string{"b"}, prefixes: []string{"a/"}}, {keys: []string{"d e"}, prefixes: []string{"c/"}}, {keys: []string{"z"}}}},
		{"start after", s3.ListObjectsV2Input{StartAfter: aws.String("c/x")}, []page{{keys: []string{"c/y", "d e", "z"}}}},
		{"no match", s3.ListObjectsV2Input{Prefix: aws.String("q")}, []page{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("pages %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if !slices.Equal(got[i].keys, tt.want[i].keys) || !slices.Equal(got[i].prefixes, tt.want[i].prefixes) {
					t.Fatalf("page %d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}

	out, err := e.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), FetchOwner: aws.Bool(true), EncodingType: types.EncodingTypeUrl, Prefix: aws.String("d ")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 1 || out.Contents[0].Owner == nil || *out.Contents[0].ETag != `"`+md5hex("d e")+`"` || *out.Contents[0].Size != 3 {
		t.Fatalf("%+v", out.Contents)
	}
	if k, _ := url.QueryUnescape(*out.Contents[0].Key); k != "d e" || *out.Contents[0].Key == "d e" {
		t.Fatalf("url-encoded key %q", *out.Contents[0].Key)
	}
	_, err = e.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), ContinuationToken: aws.String("%%%")})
	wantCode(t, err, "InvalidArgument")

	// ListObjects (v1) with a delimiter pages by NextMarker.
	var got []string
	in := &s3.ListObjectsInput{Bucket: aws.String("bkt"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)}
	for {
		out, err := e.client.ListObjects(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			got = append(got, *o.Key)
		}
		for _, p := range out.CommonPrefixes {
			got = append(got, *p.Prefix)
		}
		if !*out.IsTruncated {
			break
		}
		in.Marker = out.NextMarker
	}
	slices.Sort(got)
	if want := []string{"a/", "b", "c/", "d e", "z"}; !slices.Equal(got, want) {
		t.Fatalf("v1: %v", got)
	}
}
