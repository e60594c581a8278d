package sns

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	snssdk "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/cutover/cutover/internal/store"
)

func (e *env) createTopic(name string, attrs map[string]string) string {
	e.t.Helper()
	out, err := e.client().CreateTopic(e.ctx, &snssdk.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		e.t.Fatalf("CreateTopic %s: %v", name, err)
	}
	return *out.TopicArn
}

func (e *env) topicAttrs(arn string) map[string]string {
	e.t.Helper()
	out, err := e.client().GetTopicAttributes(e.ctx, &snssdk.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	if err != nil {
		e.t.Fatalf("GetTopicAttributes: %v", err)
	}
	return out.Attributes
}

// token reads a subscription's confirmation token from the store, as the
// endpoint would have read it from its SubscriptionConfirmation.
func (e *env) token(subARN string) string {
	e.t.Helper()
	var tok string
	err := e.db.View(e.ctx, func(tx store.Tx) error {
		sub, _, err := store.GetJSON[subscription](tx, kindSub, subARN)
		if err == nil {
			tok = sub.Token
		}
		return err
	})
	if err != nil {
		e.t.Fatalf("reading subscription %s: %v", subARN, err)
	}
	return tok
}

// subscribeConfirmed subscribes endpoint and confirms it with the API.
func (e *env) subscribeConfirmed(topicARN, endpoint string, attrs map[string]string) string {
	e.t.Helper()
	c := e.client()
	out, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("http"),
		Endpoint: aws.String(endpoint), Attributes: attrs, ReturnSubscriptionArn: true})
	if err != nil {
		e.t.Fatalf("Subscribe: %v", err)
	}
	conf, err := c.ConfirmSubscription(e.ctx, &snssdk.ConfirmSubscriptionInput{TopicArn: aws.String(topicARN), Token: aws.String(e.token(*out.SubscriptionArn))})
	if err != nil || *conf.SubscriptionArn != *out.SubscriptionArn {
		e.t.Fatalf("ConfirmSubscription: %v %v", conf, err)
	}
	return *out.SubscriptionArn
}

func (e *env) count(kind string) int {
	e.t.Helper()
	var n int
	if err := e.db.View(e.ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.Count(kind, store.ListOptions{})
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestTopics(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	arn := e.createTopic("orders", map[string]string{"DisplayName": "Orders"})
	if arn != "arn:aws:sns:us-east-1:123456789012:orders" {
		t.Fatalf("arn %s", arn)
	}
	// Idempotent for the same configuration, refused for another.
	if again := e.createTopic("orders", map[string]string{"DisplayName": "Orders"}); again != arn {
		t.Fatalf("second CreateTopic %s", again)
	}
	if again := e.createTopic("orders", nil); again != arn {
		t.Fatalf("CreateTopic without attributes %s", again)
	}
	_, err := c.CreateTopic(e.ctx, &snssdk.CreateTopicInput{Name: aws.String("orders"), Attributes: map[string]string{"DisplayName": "Other"}})
	if errCode(err) != "InvalidParameter" {
		t.Fatalf("different attributes: %v", err)
	}

	a := e.topicAttrs(arn)
	want := map[string]string{"TopicArn": arn, "Owner": testAccount, "DisplayName": "Orders",
		"SubscriptionsConfirmed": "0", "SubscriptionsPending": "0", "SubscriptionsDeleted": "0"}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, a[k], v)
		}
	}
	var pol map[string]any
	if err := json.Unmarshal([]byte(a["Policy"]), &pol); err != nil || pol["Id"] != "__default_policy_ID" {
		t.Errorf("Policy %s", a["Policy"])
	}
	if !strings.Contains(a["EffectiveDeliveryPolicy"], `"numRetries":3`) || !strings.Contains(a["EffectiveDeliveryPolicy"], `"minDelayTarget":20`) {
		t.Errorf("EffectiveDeliveryPolicy %s", a["EffectiveDeliveryPolicy"])
	}
	if _, ok := a["DeliveryPolicy"]; ok {
		t.Errorf("DeliveryPolicy shown though never set")
	}

	dp := `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":5,"maxDelayTarget":30,"numRetries":5,"backoffFunction":"exponential"},"disableSubscriptionOverrides":false}}`
	for _, set := range []struct{ name, value string }{{"DisplayName", "New"}, {"DeliveryPolicy", dp}, {"SignatureVersion", "2"}} {
		if _, err := c.SetTopicAttributes(e.ctx, &snssdk.SetTopicAttributesInput{TopicArn: aws.String(arn),
			AttributeName: aws.String(set.name), AttributeValue: aws.String(set.value)}); err != nil {
			t.Fatalf("SetTopicAttributes %s: %v", set.name, err)
		}
	}
	a = e.topicAttrs(arn)
	if a["DisplayName"] != "New" || a["DeliveryPolicy"] != dp || a["SignatureVersion"] != "2" ||
		!strings.Contains(a["EffectiveDeliveryPolicy"], `"numRetries":5`) {
		t.Fatalf("after set: %v", a)
	}

	other := "arn:aws:sns:us-east-1:999999999999:orders"
	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"bad name", func() error {
			_, err := c.CreateTopic(e.ctx, &snssdk.CreateTopicInput{Name: aws.String("no spaces")})
			return err
		}, "InvalidParameter"},
		{"fifo", func() error {
			_, err := c.CreateTopic(e.ctx, &snssdk.CreateTopicInput{Name: aws.String("q.fifo")})
			return err
		}, "InvalidParameter"},
		{"unknown attribute on create", func() error {
			_, err := c.CreateTopic(e.ctx, &snssdk.CreateTopicInput{Name: aws.String("x"), Attributes: map[string]string{"Nope": "1"}})
			return err
		}, "InvalidParameter"},
		{"missing topic", func() error {
			_, err := c.GetTopicAttributes(e.ctx, &snssdk.GetTopicAttributesInput{TopicArn: aws.String(arn + "x")})
			return err
		}, "NotFound"},
		{"malformed arn", func() error {
			_, err := c.GetTopicAttributes(e.ctx, &snssdk.GetTopicAttributesInput{TopicArn: aws.String("orders")})
			return err
		}, "InvalidParameter"},
		{"other region", func() error {
			_, err := c.GetTopicAttributes(e.ctx, &snssdk.GetTopicAttributesInput{TopicArn: aws.String("arn:aws:sns:eu-west-1:123456789012:orders")})
			return err
		}, "InvalidParameter"},
		{"other account", func() error {
			_, err := c.GetTopicAttributes(e.ctx, &snssdk.GetTopicAttributesInput{TopicArn: aws.String(other)})
			return err
		}, "AuthorizationError"},
		{"bad delivery policy", func() error {
			_, err := c.SetTopicAttributes(e.ctx, &snssdk.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String("DeliveryPolicy"),
				AttributeValue: aws.String(`{"http":{"defaultHealthyRetryPolicy":{"numRetries":101}}}`)})
			return err
		}, "InvalidParameter"},
		{"policy not JSON", func() error {
			_, err := c.SetTopicAttributes(e.ctx, &snssdk.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String("Policy"),
				AttributeValue: aws.String(`{`)})
			return err
		}, "InvalidParameter"},
		{"read-only attribute", func() error {
			_, err := c.SetTopicAttributes(e.ctx, &snssdk.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String("Owner"),
				AttributeValue: aws.String("1")})
			return err
		}, "InvalidParameter"},
		{"signature version 3", func() error {
			_, err := c.SetTopicAttributes(e.ctx, &snssdk.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String("SignatureVersion"),
				AttributeValue: aws.String("3")})
			return err
		}, "InvalidParameter"},
		{"set on missing topic", func() error {
			_, err := c.SetTopicAttributes(e.ctx, &snssdk.SetTopicAttributesInput{TopicArn: aws.String(arn + "x"), AttributeName: aws.String("DisplayName"),
				AttributeValue: aws.String("x")})
			return err
		}, "NotFound"},
	}
	for _, tc := range errs {
		if got := errCode(tc.call()); got != tc.code {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.code)
		}
	}
	// Nothing was changed by the failures.
	if a2 := e.topicAttrs(arn); a2["DeliveryPolicy"] != dp || a2["SignatureVersion"] != "2" || a2["Policy"] != a["Policy"] {
		t.Fatalf("a failed call changed the topic: %v", a2)
	}
	if _, err := c.GetTopicAttributes(e.ctx, &snssdk.GetTopicAttributesInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:x")}); errCode(err) != "NotFound" {
		t.Fatalf("a failed CreateTopic created the topic: %v", err)
	}

	// DeleteTopic removes the topic and its subscriptions, and is idempotent.
	sub := e.subscribeConfirmed(arn, "http://127.0.0.1:1/hook", nil)
	if _, err := c.DeleteTopic(e.ctx, &snssdk.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTopic(e.ctx, &snssdk.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	if _, err := c.GetSubscriptionAttributes(e.ctx, &snssdk.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub)}); errCode(err) != "NotFound" {
		t.Fatalf("subscription kept after DeleteTopic: %v", err)
	}
	if _, err := c.DeleteTopic(e.ctx, &snssdk.DeleteTopicInput{TopicArn: aws.String("bad")}); errCode(err) != "InvalidParameter" {
		t.Fatalf("DeleteTopic bad arn: %v", err)
	}
}

func TestListTopicsPages(t *testing.T) {
	e := newEnv(t)
	for i := range 230 {
		if _, err := e.svc.createTopic(e.ctx, &CreateTopicInput{Name: fmt.Sprintf("t%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	p := snssdk.NewListTopicsPaginator(e.client(), &snssdk.ListTopicsInput{})
	var arns []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tp := range out.Topics {
			arns = append(arns, *tp.TopicArn)
		}
	}
	if pages != 3 || len(arns) != 230 || arns[0] != e.svc.topicARN("t000") || arns[229] != e.svc.topicARN("t229") {
		t.Fatalf("%d pages, %d topics", pages, len(arns))
	}
	if _, err := e.client().ListTopics(e.ctx, &snssdk.ListTopicsInput{NextToken: aws.String("garbage")}); errCode(err) != "InvalidParameter" {
		t.Fatalf("bad token: %v", err)
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	out, err := c.CreateTopic(e.ctx, &snssdk.CreateTopicInput{Name: aws.String("tagged"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.TopicArn
	if _, err := c.CreateTopic(e.ctx, &snssdk.CreateTopicInput{Name: aws.String("tagged"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("dev")}}}); errCode(err) != "InvalidParameter" {
		t.Fatalf("CreateTopic with other tags: %v", err)
	}
	if _, err := c.TagResource(e.ctx, &snssdk.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("sre")}}}); err != nil {
		t.Fatal(err)
	}
	list := func() map[string]string {
		out, err := c.ListTagsForResource(e.ctx, &snssdk.ListTagsForResourceInput{ResourceArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, tg := range out.Tags {
			m[*tg.Key] = *tg.Value
		}
		return m
	}
	if m := list(); len(m) != 2 || m["env"] != "prod" || m["team"] != "sre" {
		t.Fatalf("tags %v", m)
	}
	if _, err := c.UntagResource(e.ctx, &snssdk.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"env", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if m := list(); len(m) != 1 || m["team"] != "sre" {
		t.Fatalf("after untag %v", m)
	}
	many := make([]types.Tag, 50)
	for i := range many {
		many[i] = types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")}
	}
	missing := aws.String(e.svc.topicARN("absent"))
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"over 50", func() error {
			_, err := c.TagResource(e.ctx, &snssdk.TagResourceInput{ResourceArn: arn, Tags: many})
			return err
		}, "TagLimitExceeded"},
		{"aws prefix", func() error {
			_, err := c.TagResource(e.ctx, &snssdk.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
			return err
		}, "InvalidParameter"},
		{"missing topic tag", func() error {
			_, err := c.TagResource(e.ctx, &snssdk.TagResourceInput{ResourceArn: missing, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
			return err
		}, "ResourceNotFound"},
		{"missing topic list", func() error {
			_, err := c.ListTagsForResource(e.ctx, &snssdk.ListTagsForResourceInput{ResourceArn: missing})
			return err
		}, "ResourceNotFound"},
		{"missing topic untag", func() error {
			_, err := c.UntagResource(e.ctx, &snssdk.UntagResourceInput{ResourceArn: missing, TagKeys: []string{"a"}})
			return err
		}, "ResourceNotFound"},
		{"not an arn", func() error {
			_, err := c.ListTagsForResource(e.ctx, &snssdk.ListTagsForResourceInput{ResourceArn: aws.String("tagged")})
			return err
		}, "InvalidParameter"},
	} {
		if got := errCode(tc.call()); got != tc.code {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.code)
		}
	}
	if m := list(); len(m) != 1 {
		t.Fatalf("a failed tagging call changed the tags: %v", m)
	}
}

func TestSubscriptions(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	arn := e.createTopic("alerts", nil)
	out, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("https"), Endpoint: aws.String("https://user:secret@hooks.example/sns")})
	if err != nil || *out.SubscriptionArn != "pending confirmation" {
		t.Fatalf("Subscribe: %v %v", out, err)
	}
	// Subscribing again answers the same way, and with ReturnSubscriptionArn
	// gives the real ARN of the same subscription.
	out2, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("https"),
		Endpoint: aws.String("https://user:secret@hooks.example/sns"), ReturnSubscriptionArn: true})
	if err != nil || !strings.HasPrefix(*out2.SubscriptionArn, arn+":") {
		t.Fatalf("Subscribe again: %v %v", out2, err)
	}
	subARN := *out2.SubscriptionArn
	byTopic, err := c.ListSubscriptionsByTopic(e.ctx, &snssdk.ListSubscriptionsByTopicInput{TopicArn: aws.String(arn)})
	if err != nil || len(byTopic.Subscriptions) != 1 || *byTopic.Subscriptions[0].SubscriptionArn != "PendingConfirmation" ||
		*byTopic.Subscriptions[0].Endpoint != "https://user:****@hooks.example/sns" || *byTopic.Subscriptions[0].Owner != testAccount {
		t.Fatalf("ListSubscriptionsByTopic: %+v %v", byTopic, err)
	}
	if a := e.topicAttrs(arn); a["SubscriptionsPending"] != "1" || a["SubscriptionsConfirmed"] != "0" {
		t.Fatalf("counts %v", a)
	}
	ga, err := c.GetSubscriptionAttributes(e.ctx, &snssdk.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if err != nil || ga.Attributes["PendingConfirmation"] != "true" || ga.Attributes["Protocol"] != "https" || ga.Attributes["RawMessageDelivery"] != "false" {
		t.Fatalf("GetSubscriptionAttributes pending: %v %v", ga, err)
	}

	if _, err := c.ConfirmSubscription(e.ctx, &snssdk.ConfirmSubscriptionInput{TopicArn: aws.String(arn), Token: aws.String("nope")}); errCode(err) != "InvalidParameter" {
		t.Fatalf("bad token: %v", err)
	}
	conf, err := c.ConfirmSubscription(e.ctx, &snssdk.ConfirmSubscriptionInput{TopicArn: aws.String(arn), Token: aws.String(e.token(subARN)),
		AuthenticateOnUnsubscribe: aws.String("true")})
	if err != nil || *conf.SubscriptionArn != subARN {
		t.Fatalf("ConfirmSubscription: %v %v", conf, err)
	}
	ga, _ = c.GetSubscriptionAttributes(e.ctx, &snssdk.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if ga.Attributes["PendingConfirmation"] != "false" || ga.Attributes["ConfirmationWasAuthenticated"] != "true" {
		t.Fatalf("after confirm: %v", ga.Attributes)
	}
	// A confirmed subscription is answered with its ARN.
	out3, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("https"), Endpoint: aws.String("https://user:secret@hooks.example/sns")})
	if err != nil || *out3.SubscriptionArn != subARN {
		t.Fatalf("Subscribe confirmed: %v %v", out3, err)
	}

	for _, set := range []struct{ name, value string }{
		{"RawMessageDelivery", "true"},
		{"DeliveryPolicy", `{"healthyRetryPolicy":{"numRetries":1,"minDelayTarget":1,"maxDelayTarget":1}}`},
	} {
		if _, err := c.SetSubscriptionAttributes(e.ctx, &snssdk.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN),
			AttributeName: aws.String(set.name), AttributeValue: aws.String(set.value)}); err != nil {
			t.Fatalf("SetSubscriptionAttributes %s: %v", set.name, err)
		}
	}
	ga, _ = c.GetSubscriptionAttributes(e.ctx, &snssdk.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if ga.Attributes["RawMessageDelivery"] != "true" || !strings.Contains(ga.Attributes["EffectiveDeliveryPolicy"], `"numRetries":1`) ||
		ga.Attributes["DeliveryPolicy"] == "" || ga.Attributes["TopicArn"] != arn || ga.Attributes["Owner"] != testAccount {
		t.Fatalf("after set: %v", ga.Attributes)
	}

	missingSub := arn + ":00000000-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"email", func() error {
			_, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("email"), Endpoint: aws.String("a@b.c")})
			return err
		}, "InvalidParameter"},
		{"unknown protocol", func() error {
			_, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("carrier-pigeon"), Endpoint: aws.String("x")})
			return err
		}, "InvalidParameter"},
		{"endpoint of another scheme", func() error {
			_, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"), Endpoint: aws.String("https://x.example/")})
			return err
		}, "InvalidParameter"},
		{"no endpoint", func() error {
			_, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http")})
			return err
		}, "InvalidParameter"},
		{"missing topic", func() error {
			_, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn + "x"), Protocol: aws.String("http"), Endpoint: aws.String("http://x.example/")})
			return err
		}, "NotFound"},
		{"filter policy", func() error {
			_, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"), Endpoint: aws.String("http://x.example/"),
				Attributes: map[string]string{"FilterPolicy": "{}"}})
			return err
		}, "InvalidParameter"},
		{"bad sub delivery policy", func() error {
			_, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"), Endpoint: aws.String("http://x.example/"),
				Attributes: map[string]string{"DeliveryPolicy": `{"healthyRetryPolicy":{"minDelayTarget":30,"maxDelayTarget":10}}`}})
			return err
		}, "InvalidParameter"},
		{"same endpoint other attributes", func() error {
			_, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("https"), Endpoint: aws.String("https://user:secret@hooks.example/sns"),
				Attributes: map[string]string{"DeliveryPolicy": `{"healthyRetryPolicy":{"numRetries":2}}`}})
			return err
		}, "InvalidParameter"},
		{"confirm on missing topic", func() error {
			_, err := c.ConfirmSubscription(e.ctx, &snssdk.ConfirmSubscriptionInput{TopicArn: aws.String(arn + "x"), Token: aws.String("t")})
			return err
		}, "NotFound"},
		{"get missing subscription", func() error {
			_, err := c.GetSubscriptionAttributes(e.ctx, &snssdk.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(missingSub)})
			return err
		}, "NotFound"},
		{"malformed subscription arn", func() error {
			_, err := c.GetSubscriptionAttributes(e.ctx, &snssdk.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(arn + ":nope")})
			return err
		}, "InvalidParameter"},
		{"raw delivery not boolean", func() error {
			_, err := c.SetSubscriptionAttributes(e.ctx, &snssdk.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN),
				AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("yes")})
			return err
		}, "InvalidParameter"},
		{"unknown subscription attribute", func() error {
			_, err := c.SetSubscriptionAttributes(e.ctx, &snssdk.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN),
				AttributeName: aws.String("Protocol"), AttributeValue: aws.String("http")})
			return err
		}, "InvalidParameter"},
		{"policy over an hour", func() error {
			_, err := c.SetSubscriptionAttributes(e.ctx, &snssdk.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN),
				AttributeName: aws.String("DeliveryPolicy"), AttributeValue: aws.String(`{"healthyRetryPolicy":{"numRetries":100,"minDelayTarget":60,"maxDelayTarget":60}}`)})
			return err
		}, "InvalidParameter"},
		{"unsubscribe missing", func() error {
			_, err := c.Unsubscribe(e.ctx, &snssdk.UnsubscribeInput{SubscriptionArn: aws.String(missingSub)})
			return err
		}, "NotFound"},
		{"list by missing topic", func() error {
			_, err := c.ListSubscriptionsByTopic(e.ctx, &snssdk.ListSubscriptionsByTopicInput{TopicArn: aws.String(arn + "x")})
			return err
		}, "NotFound"},
	} {
		if got := errCode(tc.call()); got != tc.code {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.code)
		}
	}
	ga, _ = c.GetSubscriptionAttributes(e.ctx, &snssdk.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if ga.Attributes["RawMessageDelivery"] != "true" || !strings.Contains(ga.Attributes["EffectiveDeliveryPolicy"], `"numRetries":1`) {
		t.Fatalf("a failed call changed the subscription: %v", ga.Attributes)
	}
	if got := e.count(kindSub); got != 1 {
		t.Fatalf("failed subscribes stored subscriptions: %d", got)
	}

	if _, err := c.Unsubscribe(e.ctx, &snssdk.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unsubscribe(e.ctx, &snssdk.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}); errCode(err) != "NotFound" {
		t.Fatalf("second Unsubscribe: %v", err)
	}
	if a := e.topicAttrs(arn); a["SubscriptionsDeleted"] != "1" || a["SubscriptionsConfirmed"] != "0" {
		t.Fatalf("counts after unsubscribe %v", a)
	}
	all, err := c.ListSubscriptions(e.ctx, &snssdk.ListSubscriptionsInput{})
	if err != nil || len(all.Subscriptions) != 0 {
		t.Fatalf("ListSubscriptions after unsubscribe: %+v %v", all, err)
	}
}

func TestListSubscriptionsPages(t *testing.T) {
	e := newEnv(t)
	a := e.createTopic("a", nil)
	b := e.createTopic("b", nil)
	for i := range 105 {
		for _, topic := range []string{a, b} {
			if _, err := e.svc.subscribe(e.ctx, &SubscribeInput{TopicArn: topic, Protocol: "http", Endpoint: fmt.Sprintf("http://h%d.example/", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var n int
	p := snssdk.NewListSubscriptionsByTopicPaginator(e.client(), &snssdk.ListSubscriptionsByTopicInput{TopicArn: aws.String(a)})
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Subscriptions {
			if *s.TopicArn != a {
				t.Fatalf("subscription of %s listed for %s", *s.TopicArn, a)
			}
		}
		n += len(out.Subscriptions)
	}
	if n != 105 {
		t.Fatalf("by topic: %d", n)
	}
	n = 0
	all := snssdk.NewListSubscriptionsPaginator(e.client(), &snssdk.ListSubscriptionsInput{})
	for all.HasMorePages() {
		out, err := all.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Subscriptions)
	}
	if n != 210 {
		t.Fatalf("all: %d", n)
	}
	// A token of one topic's listing is refused for another's.
	first, _ := e.client().ListSubscriptionsByTopic(e.ctx, &snssdk.ListSubscriptionsByTopicInput{TopicArn: aws.String(a)})
	if _, err := e.client().ListSubscriptionsByTopic(e.ctx, &snssdk.ListSubscriptionsByTopicInput{TopicArn: aws.String(b), NextToken: first.NextToken}); errCode(err) != "InvalidParameter" {
		t.Fatalf("token across topics: %v", err)
	}
}

func TestPublishValidation(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	arn := e.createTopic("p", nil)
	big := strings.Repeat("x", 256*1024+1)
	str := func(s string) *string { return &s }
	attr := func(typ string, val *string) map[string]types.MessageAttributeValue {
		return map[string]types.MessageAttributeValue{"a": {DataType: aws.String(typ), StringValue: val}}
	}
	for _, tc := range []struct {
		name string
		in   snssdk.PublishInput
		code string
	}{
		{"ok", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), Subject: str("Deployment d-123 succeeded!")}, ""},
		{"ok json structure", snssdk.PublishInput{TopicArn: &arn, Message: str(`{"default":"d","http":"h"}`), MessageStructure: str("json")}, ""},
		{"ok target arn", snssdk.PublishInput{TargetArn: &arn, Message: str("hi")}, ""},
		{"ok attributes", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), MessageAttributes: map[string]types.MessageAttributeValue{
			"n": {DataType: aws.String("Number"), StringValue: str("1.5")},
			"b": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
			"s": {DataType: aws.String("String.custom"), StringValue: str("v")}}}, ""},
		{"empty message", snssdk.PublishInput{TopicArn: &arn, Message: str("")}, "InvalidParameter"},
		{"too long", snssdk.PublishInput{TopicArn: &arn, Message: &big}, "InvalidParameter"},
		{"no topic", snssdk.PublishInput{Message: str("hi")}, "InvalidParameter"},
		{"missing topic", snssdk.PublishInput{TopicArn: str(arn + "x"), Message: str("hi")}, "NotFound"},
		{"phone", snssdk.PublishInput{PhoneNumber: str("+15555550100"), Message: str("hi")}, "InvalidParameter"},
		{"subject newline", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), Subject: str("a\nb")}, "InvalidParameter"},
		{"subject empty", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), Subject: str("")}, "InvalidParameter"},
		{"subject too long", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), Subject: str(strings.Repeat("s", 101))}, "InvalidParameter"},
		{"subject not ascii", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), Subject: str("déploiement")}, "InvalidParameter"},
		{"json without default", snssdk.PublishInput{TopicArn: &arn, Message: str(`{"http":"h"}`), MessageStructure: str("json")}, "InvalidParameter"},
		{"json not json", snssdk.PublishInput{TopicArn: &arn, Message: str(`nope`), MessageStructure: str("json")}, "InvalidParameter"},
		{"attribute type", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), MessageAttributes: attr("Blob", str("x"))}, "ParameterValueInvalid"},
		{"attribute number", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), MessageAttributes: attr("Number", str("ten"))}, "ParameterValueInvalid"},
		{"attribute empty", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), MessageAttributes: attr("String", str(""))}, "ParameterValueInvalid"},
		{"attribute reserved name", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), MessageAttributes: map[string]types.MessageAttributeValue{
			"AWS.x": {DataType: aws.String("String"), StringValue: str("v")}}}, "ParameterValueInvalid"},
		{"fifo fields", snssdk.PublishInput{TopicArn: &arn, Message: str("hi"), MessageGroupId: str("g")}, "InvalidParameter"},
	} {
		out, err := c.Publish(e.ctx, &tc.in)
		if got := errCode(err); got != tc.code {
			t.Errorf("%s: got %q (%v), want %q", tc.name, got, err, tc.code)
			continue
		}
		if tc.code == "" && (out.MessageId == nil || len(*out.MessageId) != 36) {
			t.Errorf("%s: message id %v", tc.name, out.MessageId)
		}
	}
	// The in-process Publish takes the same path.
	if _, err := e.svc.Publish(e.ctx, arn+"x", "s", "m"); errCode(err) != "NotFound" {
		t.Fatalf("in-process Publish to a missing topic: %v", err)
	}
	if id, err := e.svc.Publish(e.ctx, arn, "Subject", "m"); err != nil || len(id) != 36 {
		t.Fatalf("in-process Publish: %q %v", id, err)
	}
	// With no confirmed subscription nothing is kept.
	if n := e.count(kindMessage) + e.count(kindDelivery); n != 0 {
		t.Fatalf("%d records kept for messages nobody receives", n)
	}
}

func TestUnsignedAPICallRefused(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Post(e.srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=ListTopics&Version=2010-03-31"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned ListTopics: %d", resp.StatusCode)
	}
	// An unsigned GET of the public links cannot reach other actions.
	r2, err := http.Get(e.srv.URL + "/sns/confirm?Action=DeleteTopic&TopicArn=" + e.svc.topicARN("x") + "&Token=t")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotFound { // ConfirmSubscription on a missing topic
		t.Fatalf("confirm link with another action: %d", r2.StatusCode)
	}
}
