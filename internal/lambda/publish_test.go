package lambda

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestPublishAfterDeletingLastVersion: the last published version can be
// deleted; the next PublishVersion takes the next number (Lambda never
// reuses one), with or without a change to $LATEST.
func TestPublishAfterDeletingLastVersion(t *testing.T) {
	e := newEnv(t)
	e.createSmall("fn", "one")
	for i, want := range []string{"1", "2", "3"} {
		out, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("fn")})
		if err != nil || aws.ToString(out.Version) != want {
			t.Fatalf("publish %d: %v %v, want version %s", i, out, err, want)
		}
		if _, err := e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String(want)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.client.GetFunction(e.ctx, &lsdk.GetFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("3")})
	wantCode(t, err, "ResourceNotFoundException")
}
