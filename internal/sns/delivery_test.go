package sns

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	snssdk "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/cutover/cutover/internal/store"
)

// verifySNS checks a delivered message the way an SNS subscriber does:
// fetch the certificate from SigningCertURL, rebuild the string to sign
// from the message's own fields, check the signature with the certificate's
// key (SHA1withRSA for version 1, SHA256withRSA for 2).
func verifySNS(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	resp, err := http.Get(str("SigningCertURL"))
	if err != nil {
		t.Fatalf("fetching SigningCertURL: %v", err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	block, _ := pem.Decode(pemBytes)
	if resp.StatusCode != 200 || block == nil {
		t.Fatalf("SigningCertURL answered %d: %s", resp.StatusCode, pemBytes)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	if str("Type") == "Notification" {
		fields = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	} else {
		fields = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var sb strings.Builder
	for _, f := range fields {
		if _, ok := m[f]; !ok && f == "Subject" {
			continue
		}
		sb.WriteString(f + "\n" + str(f) + "\n")
	}
	sig, err := base64.StdEncoding.DecodeString(str("Signature"))
	if err != nil {
		t.Fatalf("Signature: %v", err)
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	switch str("SignatureVersion") {
	case "1":
		sum := sha1.Sum([]byte(sb.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256([]byte(sb.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		t.Fatalf("SignatureVersion %q", str("SignatureVersion"))
	}
	if err != nil {
		t.Fatalf("signature does not verify: %v\n%s", err, body)
	}
	return m
}

func wantHeaders(t *testing.T, r received, typ, topicARN, subARN string) {
	t.Helper()
	h := r.Header
	if h.Get("Content-Type") != "text/plain; charset=UTF-8" || h.Get("User-Agent") != "Amazon Simple Notification Service Agent" ||
		h.Get("x-amz-sns-message-type") != typ || h.Get("x-amz-sns-topic-arn") != topicARN || h.Get("x-amz-sns-message-id") == "" ||
		h.Get("x-amz-sns-subscription-arn") != subARN {
		t.Fatalf("%s headers: %v", typ, h)
	}
}

// keysOf lists a JSON object's keys, to check each message type carries
// exactly SNS's fields.
func keysOf(m map[string]any) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ",")
}

// TestHandshakeAndNotification follows a subscriber through SNS's
// protocol: the SubscriptionConfirmation, confirming with a plain GET of
// SubscribeURL, a signed Notification (versions 1 and 2), raw delivery,
// and an UnsubscribeConfirmation.
func TestHandshakeAndNotification(t *testing.T) {
	e := newEnv(t)
	e.run()
	c := e.client()
	sub := newSubscriber(t, e.clk)
	arn := e.createTopic("deploys", nil)
	out, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL + "/hook")})
	if err != nil || *out.SubscriptionArn != "pending confirmation" {
		t.Fatalf("Subscribe: %v %v", out, err)
	}

	r := sub.next(t)
	wantHeaders(t, r, "SubscriptionConfirmation", arn, "")
	m := verifySNS(t, r.Body)
	if got := keysOf(m); got != "Message,MessageId,Signature,SignatureVersion,SigningCertURL,SubscribeURL,Timestamp,Token,TopicArn,Type" {
		t.Fatalf("confirmation fields %s", got)
	}
	if m["Timestamp"] != "2026-11-25T10:00:00.000Z" || !strings.Contains(m["Message"].(string), arn) {
		t.Fatalf("confirmation %v", m)
	}
	if ev := e.event(); ev.Outcome != delivered {
		t.Fatalf("confirmation attempt %+v", ev)
	}

	// Until confirmed, a publish reaches nobody.
	if _, err := c.Publish(e.ctx, &snssdk.PublishInput{TopicArn: aws.String(arn), Message: aws.String("early")}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(kindDelivery); n != 0 {
		t.Fatalf("%d deliveries for an unconfirmed subscription", n)
	}

	// The SubscribeURL confirms with a plain, unsigned GET.
	resp, err := http.Get(m["SubscribeURL"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var cr struct {
		SubscriptionArn string `xml:"ConfirmSubscriptionResult>SubscriptionArn"`
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := xml.Unmarshal(body, &cr); resp.StatusCode != 200 || err != nil || !strings.HasPrefix(cr.SubscriptionArn, arn+":") {
		t.Fatalf("SubscribeURL: %d %s", resp.StatusCode, body)
	}
	subARN := cr.SubscriptionArn
	ga, err := c.GetSubscriptionAttributes(e.ctx, &snssdk.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if err != nil || ga.Attributes["PendingConfirmation"] != "false" || ga.Attributes["ConfirmationWasAuthenticated"] != "false" {
		t.Fatalf("after SubscribeURL: %v %v", ga, err)
	}

	pub, err := c.Publish(e.ctx, &snssdk.PublishInput{TopicArn: aws.String(arn), Message: aws.String(`{"deploymentId":"d-1","status":"SUCCEEDED"} <&>`),
		Subject: aws.String("Deployment succeeded"), MessageAttributes: map[string]types.MessageAttributeValue{
			"app": {DataType: aws.String("String"), StringValue: aws.String("web")},
			"n":   {DataType: aws.String("Number"), StringValue: aws.String("3")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	r = sub.next(t)
	wantHeaders(t, r, "Notification", arn, subARN)
	if r.Header.Get("x-amz-sns-message-id") != *pub.MessageId {
		t.Fatalf("message id header %s, want %s", r.Header.Get("x-amz-sns-message-id"), *pub.MessageId)
	}
	m = verifySNS(t, r.Body)
	if got := keysOf(m); got != "Message,MessageAttributes,MessageId,Signature,SignatureVersion,SigningCertURL,Subject,Timestamp,TopicArn,Type,UnsubscribeURL" {
		t.Fatalf("notification fields %s", got)
	}
	attrs := m["MessageAttributes"].(map[string]any)
	if m["MessageId"] != *pub.MessageId || m["Subject"] != "Deployment succeeded" || m["SignatureVersion"] != "1" ||
		m["Message"] != `{"deploymentId":"d-1","status":"SUCCEEDED"} <&>` ||
		fmt.Sprint(attrs["app"]) != "map[Type:String Value:web]" || fmt.Sprint(attrs["n"]) != "map[Type:Number Value:3]" {
		t.Fatalf("notification %v", m)
	}
	e.event()

	// Signature version 2 once the topic asks for it; no Subject, no
	// attributes, no such fields.
	if _, err := c.SetTopicAttributes(e.ctx, &snssdk.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Publish(e.ctx, arn, "", "plain"); err != nil {
		t.Fatal(err)
	}
	r = sub.next(t)
	m = verifySNS(t, r.Body)
	if m["SignatureVersion"] != "2" || keysOf(m) != "Message,MessageId,Signature,SignatureVersion,SigningCertURL,Timestamp,TopicArn,Type,UnsubscribeURL" {
		t.Fatalf("version 2 notification %v", m)
	}
	unsubURL := m["UnsubscribeURL"].(string)
	e.event()

	// Raw delivery posts the bare message.
	if _, err := c.SetSubscriptionAttributes(e.ctx, &snssdk.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN),
		AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Publish(e.ctx, arn, "s", "raw body"); err != nil {
		t.Fatal(err)
	}
	r = sub.next(t)
	wantHeaders(t, r, "Notification", arn, subARN)
	if string(r.Body) != "raw body" || r.Header.Get("x-amz-sns-rawdelivery") != "true" {
		t.Fatalf("raw delivery: %q %v", r.Body, r.Header)
	}
	e.event()

	// The UnsubscribeURL unsubscribes with a plain GET, and the endpoint is
	// told so with an UnsubscribeConfirmation whose SubscribeURL restores it.
	resp, err = http.Get(unsubURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("UnsubscribeURL: %d", resp.StatusCode)
	}
	r = sub.next(t)
	wantHeaders(t, r, "UnsubscribeConfirmation", arn, subARN)
	m = verifySNS(t, r.Body)
	if keysOf(m) != "Message,MessageId,Signature,SignatureVersion,SigningCertURL,SubscribeURL,Timestamp,Token,TopicArn,Type" {
		t.Fatalf("unsubscribe confirmation fields %v", m)
	}
	e.event()
	if _, err := e.svc.Publish(e.ctx, arn, "", "after unsubscribe"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(kindDelivery); n != 0 {
		t.Fatalf("%d deliveries after unsubscribe", n)
	}
	resp, err = http.Get(m["SubscribeURL"].(string))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a := e.topicAttrs(arn); resp.StatusCode != 200 || a["SubscriptionsConfirmed"] != "1" || a["SubscriptionsDeleted"] != "0" {
		t.Fatalf("restoring with SubscribeURL: %d %v", resp.StatusCode, a)
	}
	if sub.count() != 5 {
		t.Fatalf("subscriber got %d requests, want 5", sub.count())
	}
}

// TestUnsubscribeStopsDeliveries: a message published after Unsubscribe
// is not delivered, even to a subscription with deliveries pending.
func TestUnsubscribeStopsDeliveries(t *testing.T) {
	e := newEnv(t)
	sub := newSubscriber(t, e.clk)
	arn := e.createTopic("t", nil)
	subARN := e.subscribeConfirmed(arn, sub.srv.URL, nil)
	// Accepted while no worker runs, then unsubscribed before delivery.
	if _, err := e.svc.Publish(e.ctx, arn, "", "queued"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().Unsubscribe(e.ctx, &snssdk.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}); err != nil {
		t.Fatal(err)
	}
	e.run()
	// The confirmation (confirmed meanwhile) and the notification are
	// skipped; the UnsubscribeConfirmation goes out.
	outcomes := map[outcome]int{}
	for range 3 {
		outcomes[e.anyEvent().Outcome]++
	}
	if outcomes[skipped] != 2 || outcomes[delivered] != 1 {
		t.Fatalf("outcomes %v", outcomes)
	}
	if sub.count() != 1 || sub.reqs[0].Header.Get("x-amz-sns-message-type") != "UnsubscribeConfirmation" {
		t.Fatalf("subscriber got %d requests: %v", sub.count(), sub.reqs)
	}
	if n := e.count(kindDelivery) + e.count(kindMessage); n != 0 {
		t.Fatalf("%d records left", n)
	}
}

// TestAuthenticatedUnsubscribe: a subscription confirmed with
// AuthenticateOnUnsubscribe refuses the unsigned UnsubscribeURL.
func TestAuthenticatedUnsubscribe(t *testing.T) {
	e := newEnv(t)
	arn := e.createTopic("t", nil)
	c := e.client()
	out, err := c.Subscribe(e.ctx, &snssdk.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"), Endpoint: aws.String("http://127.0.0.1:1/"), ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConfirmSubscription(e.ctx, &snssdk.ConfirmSubscriptionInput{TopicArn: aws.String(arn), Token: aws.String(e.token(*out.SubscriptionArn)),
		AuthenticateOnUnsubscribe: aws.String("true")}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(e.svc.unsubscribeURL(*out.SubscriptionArn))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>AuthorizationError</Code>") {
		t.Fatalf("unsigned unsubscribe: %d %s", resp.StatusCode, body)
	}
	if _, err := c.Unsubscribe(e.ctx, &snssdk.UnsubscribeInput{SubscriptionArn: out.SubscriptionArn}); err != nil {
		t.Fatalf("signed unsubscribe: %v", err)
	}
}

// TestRetryBackoff: an endpoint that fails twice with 500 gets the message
// on the third attempt, 20 and 40 seconds after the first (SNS's default
// policy), on the service's clock.
func TestRetryBackoff(t *testing.T) {
	e := newEnv(t)
	sub := newSubscriber(t, e.clk)
	arn := e.createTopic("t", nil)
	e.subscribeConfirmed(arn, sub.srv.URL, nil)
	sub.respond = func(n int, _ received) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	e.run()
	id, err := e.svc.Publish(e.ctx, arn, "", "retry me")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		outcome outcome
		next    time.Duration
	}{{retrying, 20 * time.Second}, {retrying, 40 * time.Second}, {delivered, 0}} {
		ev := e.event()
		if ev.Outcome != want.outcome || ev.Attempt != i+1 || ev.MessageID != id {
			t.Fatalf("attempt %d: %+v", i+1, ev)
		}
		if want.next != 0 {
			if !ev.Next.Equal(t0.Add(want.next)) {
				t.Fatalf("attempt %d: next at %s, want %s", i+1, ev.Next, t0.Add(want.next))
			}
			e.clk.Advance(20 * time.Second)
		}
	}
	for i, want := range []time.Duration{0, 20 * time.Second, 40 * time.Second} {
		if got := sub.reqs[i].At; !got.Equal(t0.Add(want)) {
			t.Errorf("attempt %d at %s, want %s", i+1, got, t0.Add(want))
		}
		if sub.reqs[i].Header.Get("x-amz-sns-message-id") != id {
			t.Errorf("attempt %d carries another message id", i+1)
		}
	}
	if n := e.count(kindDelivery) + e.count(kindMessage); n != 0 {
		t.Fatalf("%d records left after delivery", n)
	}
}

// TestRetryPolicyAndClientErrors: a 4xx answer is not retried; 429 is; a
// subscription's DeliveryPolicy decides how many retries and how far apart.
func TestRetryPolicyAndClientErrors(t *testing.T) {
	e := newEnv(t)
	sub := newSubscriber(t, e.clk)
	arn := e.createTopic("t", nil)
	e.subscribeConfirmed(arn, sub.srv.URL, map[string]string{
		"DeliveryPolicy": `{"healthyRetryPolicy":{"numRetries":2,"numNoDelayRetries":1,"minDelayTarget":7,"maxDelayTarget":7}}`})
	statuses := []int{http.StatusNotFound, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable}
	var mu sync.Mutex
	sub.respond = func(n int, _ received) int {
		mu.Lock()
		defer mu.Unlock()
		return statuses[min(n, len(statuses)-1)]
	}
	e.run()
	if _, err := e.svc.Publish(e.ctx, arn, "", "one"); err != nil {
		t.Fatal(err)
	}
	if ev := e.event(); ev.Outcome != dropped || ev.Status != 404 {
		t.Fatalf("404: %+v", ev)
	}
	if _, err := e.svc.Publish(e.ctx, arn, "", "two"); err != nil {
		t.Fatal(err)
	}
	// 429, then an immediate retry (502), then one 7 s later (503): the
	// policy's two retries are spent and the delivery ends.
	ev := e.event()
	if ev.Outcome != retrying || ev.Status != 429 || !ev.Next.Equal(t0) {
		t.Fatalf("429: %+v", ev)
	}
	ev = e.event()
	if ev.Outcome != retrying || ev.Status != 502 || !ev.Next.Equal(t0.Add(7*time.Second)) {
		t.Fatalf("502: %+v", ev)
	}
	e.clk.Advance(7 * time.Second)
	if ev = e.event(); ev.Outcome != dropped || ev.Status != 503 || ev.Attempt != 3 {
		t.Fatalf("503: %+v", ev)
	}
	if n := e.count(kindDelivery) + e.count(kindMessage); n != 0 {
		t.Fatalf("%d records left", n)
	}
}

// TestDeliveredAfterRestart: a message accepted while no worker ran is
// delivered after the service is closed and opened again on the same file.
func TestDeliveredAfterRestart(t *testing.T) {
	e := newEnv(t)
	sub := newSubscriber(t, e.clk)
	arn := e.createTopic("t", nil)
	e.subscribeConfirmed(arn, sub.srv.URL, nil)
	id, err := e.svc.Publish(e.ctx, arn, "Before restart", "survives")
	if err != nil {
		t.Fatal(err)
	}
	cert := e.svc.signer.certName
	e.restart()
	if e.svc.signer.certName != cert {
		t.Fatal("the signing certificate changed across a restart")
	}
	e.run()
	r := sub.next(t)
	m := verifySNS(t, r.Body)
	if m["MessageId"] != id || m["Message"] != "survives" || m["Subject"] != "Before restart" {
		t.Fatalf("after restart: %v", m)
	}
}

// TestClaimedDeliveryResumes: a delivery claimed by a worker that died
// (its claim was never finished) is attempted again once the claim
// expires.
func TestClaimedDeliveryResumes(t *testing.T) {
	e := newEnv(t)
	sub := newSubscriber(t, e.clk)
	arn := e.createTopic("t", nil)
	e.subscribeConfirmed(arn, sub.srv.URL, nil)
	id, err := e.svc.Publish(e.ctx, arn, "", "m")
	if err != nil {
		t.Fatal(err)
	}
	// Claim it as a process that then dies.
	var recs []*store.Record
	var ds []*delivery
	e.db.View(e.ctx, func(tx store.Tx) error {
		var err error
		ds, recs, err = store.ListJSON[delivery](tx, kindDelivery, store.ListOptions{Index: id})
		return err
	})
	dead := &Service{db: e.db, owner: "dead"}
	if c, err := dead.claim(e.ctx, recs[0], ds[0], t0); err != nil || c == nil {
		t.Fatalf("claim: %v %v", c, err)
	}
	e.restart()
	e.run()
	e.clk.Advance(claimTTL)
	if ev := e.event(); ev.Outcome != delivered || ev.Attempt != 2 {
		t.Fatalf("resumed attempt %+v", ev)
	}
	if sub.count() != 1 {
		t.Fatalf("subscriber got %d", sub.count())
	}
}

// TestHangingSubscriberDoesNotBlock: an endpoint that never answers holds
// one worker until the attempt times out; Publish and another subscriber
// are not delayed.
func TestHangingSubscriberDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	hung := make(chan struct{}, 10)
	hang := newSubscriber(t, e.clk)
	hang.respond = func(int, received) int {
		hung <- struct{}{}
		<-release
		return 200
	}
	defer close(release)
	fast := newSubscriber(t, e.clk)
	arn := e.createTopic("t", nil)
	e.subscribeConfirmed(arn, hang.srv.URL, nil)
	e.subscribeConfirmed(arn, fast.srv.URL, nil)
	e.run()
	start := time.Now()
	for i := range 3 {
		if _, err := e.svc.Publish(e.ctx, arn, "", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		fast.next(t)
	}
	<-hung
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the fast subscriber waited %s", d)
	}
	// The hanging attempt ends at the timeout and is retried later.
	for range 3 {
		e.event() // the fast deliveries
	}
	e.clk.Advance(attemptTimeout)
	ev := e.event()
	if ev.Outcome != retrying || ev.Endpoint != hang.srv.URL || !ev.Next.Equal(t0.Add(attemptTimeout+20*time.Second)) {
		t.Fatalf("timed-out attempt %+v", ev)
	}
}

// TestTwoReplicas: two services on one store, both delivering, deliver
// each message once.
func TestTwoReplicas(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	seen := map[string]int{}
	sub := newSubscriber(t, e.clk)
	sub.respond = func(_ int, r received) int {
		mu.Lock()
		seen[r.Header.Get("x-amz-sns-message-id")]++
		mu.Unlock()
		return 200
	}
	arn := e.createTopic("t", nil)
	e.subscribeConfirmed(arn, sub.srv.URL, nil)
	other, err := New(Config{Region: testRegion, AccountID: testAccount, Store: e.db, Clock: e.clk, Log: quietLog(), PublicURL: e.srv.URL, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if other.signer.certName != e.svc.signer.certName {
		t.Fatal("replicas sign with different keys")
	}
	other.attempted = e.events
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); other.Run(ctx) }()
	defer func() { cancel(); <-done }()
	e.run()
	const n = 30
	ids := map[string]bool{}
	for i := range n {
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		id, err := svc.Publish(e.ctx, arn, "", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	for range n {
		if ev := e.event(); ev.Outcome != delivered {
			t.Fatalf("%+v", ev)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("message %s delivered %d times", id, seen[id])
		}
	}
}

// TestTokenExpiry: a confirmation token stops working after three days and
// the pending subscription is removed.
func TestTokenExpiry(t *testing.T) {
	e := newEnv(t)
	arn := e.createTopic("t", nil)
	out, err := e.svc.subscribe(e.ctx, &SubscribeInput{TopicArn: arn, Protocol: "http", Endpoint: "http://127.0.0.1:1/", ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	tok := e.token(out.SubscriptionArn)
	e.clk.Advance(tokenLife)
	if _, err := e.svc.confirmSubscription(e.ctx, &ConfirmSubscriptionInput{TopicArn: arn, Token: tok}); errCode(err) != "InvalidParameter" {
		t.Fatalf("expired token: %v", err)
	}
	if err := e.svc.sweepSubscriptions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(kindSub); n != 0 {
		t.Fatalf("%d subscriptions after the sweep", n)
	}
}

// TestShutdownReleasesClaim: an attempt cut short by shutdown gives its
// claim back, so the next run delivers at once rather than after the
// claim expires.
func TestShutdownReleasesClaim(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	hung := make(chan struct{}, 1)
	sub := newSubscriber(t, e.clk)
	var mu sync.Mutex
	hang := true
	sub.respond = func(int, received) int {
		mu.Lock()
		h := hang
		mu.Unlock()
		if h {
			hung <- struct{}{}
			<-release
		}
		return 200
	}
	defer close(release)
	arn := e.createTopic("t", nil)
	e.subscribeConfirmed(arn, sub.srv.URL, nil)
	e.run()
	id, err := e.svc.Publish(e.ctx, arn, "", "m")
	if err != nil {
		t.Fatal(err)
	}
	<-hung
	e.stop()
	e.stop = nil
	var ds []*delivery
	e.db.View(e.ctx, func(tx store.Tx) error {
		var err error
		ds, _, err = store.ListJSON[delivery](tx, kindDelivery, store.ListOptions{Index: id})
		return err
	})
	if len(ds) != 1 || ds[0].Owner != "" || ds[0].Attempts != 0 || !ds[0].Due.Equal(t0) {
		t.Fatalf("after shutdown: %+v", ds)
	}
	mu.Lock()
	hang = false
	mu.Unlock()
	e.restart()
	e.run()
	if ev := e.event(); ev.Outcome != delivered || ev.MessageID != id || ev.Attempt != 1 {
		t.Fatalf("after restart: %+v", ev)
	}
}
