package sns

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/awscli"
)

// TestAWSCLI drives the API with the AWS CLIs on the machine (pip's v1 and
// Debian's v2, whichever are installed) against the test server, and checks
// that a subscriber receives what the CLI published. Each CLI runs only
// the commands that matter to callers, as every one costs a Python start.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the AWS CLI")
	}
	clis := awscli.Installed()
	if len(clis) == 0 {
		t.Skip("no aws CLI installed")
	}
	for name, bin := range clis {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each command is mostly the CLI starting up
			e := newEnv(t)
			e.run()
			sub := newSubscriber(t, e.clk)
			run := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				out, err := awscli.CLI{Bin: bin, Endpoint: e.srv.URL, Region: testRegion, AccessKeyID: testKeyID, SecretAccessKey: testSecret}.Run(ctx, append([]string{"sns"}, args...)...)
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				return out
			}
			var ct struct{ TopicArn string }
			if err := json.Unmarshal([]byte(run("create-topic", "--name", "cli-topic", "--attributes", "DisplayName=CLI", "--tags", "Key=team,Value=ops")), &ct); err != nil || ct.TopicArn != e.svc.topicARN("cli-topic") {
				t.Fatalf("create-topic: %+v %v", ct, err)
			}
			var sr struct{ SubscriptionArn string }
			if err := json.Unmarshal([]byte(run("subscribe", "--topic-arn", ct.TopicArn, "--protocol", "http", "--notification-endpoint", sub.srv.URL+"/in")), &sr); err != nil || sr.SubscriptionArn != "pending confirmation" {
				t.Fatalf("subscribe: %+v %v", sr, err)
			}
			// The endpoint confirms by fetching SubscribeURL.
			var conf map[string]any
			if err := json.Unmarshal(sub.next(t).Body, &conf); err != nil || conf["Type"] != "SubscriptionConfirmation" {
				t.Fatalf("confirmation: %v %v", conf, err)
			}
			resp, err := http.Get(conf["SubscribeURL"].(string))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var pr struct{ MessageId string }
			if err := json.Unmarshal([]byte(run("publish", "--topic-arn", ct.TopicArn, "--subject", "From the CLI", "--message", "hello from aws",
				"--message-attributes", `{"kind":{"DataType":"String","StringValue":"test"}}`)), &pr); err != nil || len(pr.MessageId) != 36 {
				t.Fatalf("publish: %+v %v", pr, err)
			}
			m := verifySNS(t, sub.next(t).Body)
			if m["MessageId"] != pr.MessageId || m["Message"] != "hello from aws" || m["Subject"] != "From the CLI" {
				t.Fatalf("notification: %v", m)
			}
			var ls struct {
				Subscriptions []struct{ SubscriptionArn, Protocol, Endpoint, TopicArn, Owner string }
			}
			if err := json.Unmarshal([]byte(run("list-subscriptions-by-topic", "--topic-arn", ct.TopicArn)), &ls); err != nil || len(ls.Subscriptions) != 1 ||
				!strings.HasPrefix(ls.Subscriptions[0].SubscriptionArn, ct.TopicArn+":") || ls.Subscriptions[0].Endpoint != sub.srv.URL+"/in" ||
				ls.Subscriptions[0].Protocol != "http" || ls.Subscriptions[0].Owner != testAccount {
				t.Fatalf("list-subscriptions-by-topic: %+v %v", ls, err)
			}
		})
	}
}
