package sns

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/awsproto"
)

// TestQueryWire checks answers byte for byte where SDKs would hide them:
// the namespace, the error envelope, codes and statuses, and a missing
// required parameter (which SDKs refuse before sending).
func TestQueryWire(t *testing.T) {
	e := newEnv(t)
	ctx := awsproto.WithPrincipal(e.ctx, awsproto.Principal{AccessKeyID: testKeyID, Root: true})
	call := func(form string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form)).WithContext(ctx)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		e.svc.q.ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct {
		form   string
		status int
		want   []string
	}{
		{"Action=CreateTopic&Version=2010-03-31&Name=wire", 200, []string{
			`<CreateTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><CreateTopicResult><TopicArn>arn:aws:sns:us-east-1:123456789012:wire</TopicArn></CreateTopicResult><ResponseMetadata><RequestId>`}},
		{"Action=GetTopicAttributes&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:123456789012:wire", 200, []string{
			`<Attributes><entry><key>DisplayName</key><value></value></entry><entry><key>EffectiveDeliveryPolicy</key>`}},
		{"Action=Publish&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:123456789012:wire", 400, []string{
			`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>ValidationError</Code>`}},
		{"Action=Publish&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:123456789012:absent&Message=m", 404, []string{
			`<Code>NotFound</Code><Message>Topic does not exist</Message>`}},
		{"Action=Publish&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:123456789012:wire&Message=", 400, []string{
			`<Code>InvalidParameter</Code><Message>Invalid parameter: Empty message</Message>`}},
		{"Action=Subscribe&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:999999999999:wire&Protocol=http&Endpoint=http://x/", 403, []string{
			`<Code>AuthorizationError</Code>`}},
		{"Action=AddPermission&Version=2010-03-31", 400, []string{`<Code>InvalidAction</Code>`}},
	} {
		w := call(tc.form)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.form, w.Code, tc.status, w.Body)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("%s: answer lacks %s:\n%s", tc.form, s, w.Body)
			}
		}
	}
}
