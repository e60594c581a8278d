package awsproto

import (
	"errors"
	"testing"
)

func TestParseARN(t *testing.T) {
	tests := []struct {
		in   string
		want ARN
	}{
		{"arn:aws:codedeploy:us-east-1:123456789012:application:my-app",
			ARN{"aws", "codedeploy", "us-east-1", "123456789012", "application:my-app"}},
		{"arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:my-app/my-group",
			ARN{"aws", "codedeploy", "us-east-1", "123456789012", "deploymentgroup:my-app/my-group"}},
		{"arn:aws:lambda:us-east-1:123456789012:function:f:live",
			ARN{"aws", "lambda", "us-east-1", "123456789012", "function:f:live"}},
		{"arn:aws:iam::123456789012:user/AWS/CodeDeploy/onprem1",
			ARN{"aws", "iam", "", "123456789012", "user/AWS/CodeDeploy/onprem1"}},
		{"arn:aws:s3:::bucket/key/with:colon",
			ARN{"aws", "s3", "", "", "bucket/key/with:colon"}},
		{"arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/tg/0123456789abcdef",
			ARN{"aws-cn", "elasticloadbalancing", "cn-north-1", "123456789012", "targetgroup/tg/0123456789abcdef"}},
		{"arn:aws:ec2:us-east-1:123456789012:instance/i-0abc",
			ARN{"aws", "ec2", "us-east-1", "123456789012", "instance/i-0abc"}},
	}
	for _, tt := range tests {
		got, err := ParseARN(tt.in)
		if err != nil {
			t.Errorf("ParseARN(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseARN(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.in {
			t.Errorf("String() = %q, want %q", s, tt.in)
		}
	}
}

func TestParseARNErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"arn",
		"aws:codedeploy:us-east-1:1:application:x",
		"arn:aws:codedeploy:us-east-1:123456789012",
		"arn::codedeploy:us-east-1:1:application:x",
		"arn:aws::us-east-1:1:application:x",
		"arn:aws:codedeploy:us-east-1:1:",
		"ARN:aws:codedeploy:us-east-1:1:application:x",
	} {
		if _, err := ParseARN(in); !errors.Is(err, ErrInvalidARN) {
			t.Errorf("ParseARN(%q) error = %v, want ErrInvalidARN", in, err)
		}
	}
}
