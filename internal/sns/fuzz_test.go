package sns

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/awsproto"
)

// FuzzQuery sends arbitrary Query forms to Publish, Subscribe and the other
// actions: the service must answer every one with a result or an SNS
// error, never a server error, and never panic.
func FuzzQuery(f *testing.F) {
	topic := "arn:aws:sns:us-east-1:123456789012:fz"
	for _, seed := range []string{
		"Action=Publish&TopicArn=" + url.QueryEscape(topic) + "&Message=hi&Subject=s",
		"Action=Publish&TopicArn=" + url.QueryEscape(topic) + "&Message=%7B%22default%22%3A%22d%22%7D&MessageStructure=json",
		"Action=Publish&TopicArn=" + url.QueryEscape(topic) + "&Message=m&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=Number&MessageAttributes.entry.1.Value.StringValue=1",
		"Action=Publish&TargetArn=x&Message=",
		"Action=Subscribe&TopicArn=" + url.QueryEscape(topic) + "&Protocol=http&Endpoint=http%3A%2F%2F127.0.0.1%3A1%2F",
		"Action=Subscribe&TopicArn=" + url.QueryEscape(topic) + "&Protocol=https&Endpoint=https%3A%2F%2Fu%3Ap%40h%2F&Attributes.entry.1.key=DeliveryPolicy&Attributes.entry.1.value=%7B%7D",
		"Action=CreateTopic&Name=fz&Attributes.entry.1.key=DeliveryPolicy&Attributes.entry.1.value=%7B%22http%22%3A%7B%7D%7D",
		"Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(topic) + "&Token=abc",
		"Action=SetTopicAttributes&TopicArn=" + url.QueryEscape(topic) + "&AttributeName=Policy&AttributeValue=%7B",
		"Action=ListSubscriptionsByTopic&TopicArn=" + url.QueryEscape(topic) + "&NextToken=zz",
		"Action=TagResource&ResourceArn=" + url.QueryEscape(topic) + "&Tags.member.1.Key=k&Tags.member.1.Value=v",
	} {
		f.Add(seed)
	}
	e := newEnv(f)
	if _, err := e.svc.createTopic(e.ctx, &CreateTopicInput{Name: "fz"}); err != nil {
		f.Fatal(err)
	}
	ctx := awsproto.WithPrincipal(e.ctx, awsproto.Principal{AccessKeyID: testKeyID, Root: true})
	f.Fuzz(func(t *testing.T, form string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form)).WithContext(ctx)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		e.svc.q.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("form %q: status %d: %s", form, w.Code, w.Body.String())
		}
		if w.Code != 200 && !strings.Contains(w.Body.String(), "<ErrorResponse") {
			t.Fatalf("form %q: status %d without an ErrorResponse: %s", form, w.Code, w.Body.String())
		}
	})
}
