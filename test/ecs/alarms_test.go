package ecs_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

// TestAlarmsAndTriggers is issue 5's end-to-end test on the process
// runtime: a CloudWatch alarm on the replacement target group's 5XX count
// stops a canary deployment and rolls it back under load, an SNS HTTP
// subscriber hears about it, and set-alarm-state stops a linear deployment.
func TestAlarmsAndTriggers(t *testing.T) {
	// Mostly waiting (health checks, alarm periods): it runs beside the
	// blue/green tests.
	t.Parallel()
	e := newEnv(t, "process")
	e.setUp()
	sub := newSNSSubscriber(t)

	// The SNS topic and its HTTP subscription, confirmed through the
	// SubscribeURL the confirmation message carries.
	topic := e.aws("sns", "create-topic", "--name", "deployments", "--query", "TopicArn", "--output", "text")
	e.aws("sns", "subscribe", "--topic-arn", topic, "--protocol", "http", "--notification-endpoint", sub.srv.URL+"/sns")
	sub.waitConfirmed(t, 15*time.Second)

	// The alarm watches the replacement's target group (green: production
	// is on blue). Its dimensions are the ARN suffixes, as in AWS.
	lbArn := e.aws("elbv2", "describe-load-balancers", "--names", "web", "--query", "LoadBalancers[0].LoadBalancerArn", "--output", "text")
	lbDim := lbArn[strings.Index(lbArn, ":loadbalancer/")+len(":loadbalancer/"):]
	tgDim := e.greenTG[strings.LastIndex(e.greenTG, ":")+1:]
	e.aws("cloudwatch", "put-metric-alarm", "--alarm-name", "green-5xx", "--namespace", "AWS/ApplicationELB",
		"--metric-name", "HTTPCode_Target_5XX_Count", "--dimensions", "Name=LoadBalancer,Value="+lbDim, "Name=TargetGroup,Value="+tgDim,
		"--statistic", "Sum", "--period", "60", "--evaluation-periods", "1", "--threshold", "0",
		"--comparison-operator", "GreaterThanThreshold", "--treat-missing-data", "notBreaching")
	e.aws("cloudwatch", "put-metric-alarm", "--alarm-name", "manual", "--namespace", "E2E", "--metric-name", "Nothing",
		"--statistic", "Sum", "--period", "60", "--evaluation-periods", "1", "--threshold", "1",
		"--comparison-operator", "GreaterThanThreshold", "--treat-missing-data", "notBreaching")
	e.aws("deploy", "update-deployment-group", "--application-name", e.app, "--current-deployment-group-name", e.group,
		"--alarm-configuration", "enabled=true,alarms=[{name=green-5xx},{name=manual}]",
		"--auto-rollback-configuration", "enabled=true,events=DEPLOYMENT_FAILURE,DEPLOYMENT_STOP_ON_ALARM",
		"--trigger-configurations", "triggerName=ops,triggerTargetArn="+topic+",triggerEvents=DeploymentStart,DeploymentSuccess,DeploymentFailure,DeploymentStop,DeploymentRollback")

	t.Run("5xxAlarmRollsBack", func(t *testing.T) {
		defer e.use(t)()
		td := e.registerTaskDef("v2", map[string]string{"STATUS_CODE": "500"}, "")
		load := ecstest.StartLoad(e.prodURL, 4, 2*time.Millisecond, 3*time.Minute, 400_000)
		stopPoll := make(chan struct{})
		samples := e.pollWeights(e.greenTG, stopPoll)
		id, err := e.awsErr("deploy", "create-deployment", "--application-name", e.app, "--deployment-group-name", e.group,
			"--deployment-config-name", "CodeDeployDefault.ECSCanary10Percent5Minutes",
			"--revision", revision(appSpec(td, nil)), "--query", "deploymentId", "--output", "text")
		if err != nil {
			close(stopPoll)
			load.Stop()
			t.Fatal(err)
		}
		d := e.waitEnded(id, 2*time.Minute)
		if d.Status != cdtypes.DeploymentStatusFailed || d.ErrorInformation == nil || d.ErrorInformation.Code != cdtypes.ErrorCodeAlarmActive ||
			!strings.Contains(*d.ErrorInformation.Message, "green-5xx") {
			close(stopPoll)
			load.Stop()
			t.Fatalf("deployment %s: %s %s; lifecycle: %s", id, d.Status, errInfo(d), e.lifecycle(id))
		}
		if d.RollbackInfo == nil || d.RollbackInfo.RollbackDeploymentId == nil {
			close(stopPoll)
			load.Stop()
			t.Fatalf("no rollback: %+v", d.RollbackInfo)
		}
		rb := e.waitEnded(*d.RollbackInfo.RollbackDeploymentId, time.Minute)
		close(stopPoll)
		ws := <-samples
		// Keep loading a little after the rollback: all of it must be v1.
		time.Sleep(time.Second)
		results := load.Stop()
		if rb.Status != cdtypes.DeploymentStatusSucceeded {
			t.Fatalf("rollback %s: %s", rb.Status, errInfo(rb))
		}

		// The replacement's own 500s are its answers; anything else that
		// is not a 200 (a 502/503 from the load balancer, a reset) is a
		// failed request.
		var first5xx, back time.Time
		var lost []string
		v2After := 0
		for _, r := range results {
			switch {
			case r.Status == 500 && r.Version == "v2":
				if first5xx.IsZero() || r.End.Before(first5xx) {
					first5xx = r.End
				}
			case !r.OK():
				if len(lost) < 5 {
					lost = append(lost, fmt.Sprintf("%s status %d %s", r.Start.Format("15:04:05.000"), r.Status, r.Err))
				}
			}
		}
		for _, s := range ws {
			if s.Weight == 0 && !first5xx.IsZero() && s.Sent.After(first5xx) && back.IsZero() {
				back = s.Received
			}
		}
		for _, r := range results {
			if !back.IsZero() && r.Start.After(back) && r.Version != "v1" {
				v2After++
			}
		}
		if len(lost) > 0 {
			t.Errorf("requests failed at the load balancer: %s", strings.Join(lost, "; "))
		}
		if first5xx.IsZero() || back.IsZero() {
			t.Fatalf("no 5xx seen (%v) or traffic never seen back on blue (%v)", first5xx, back)
		}
		if v2After > 0 {
			t.Errorf("%d requests reached the replacement after production was back on the original", v2After)
		}
		// The alarm's window is one 60 s period: 3 s at --time-scale 20.
		window := time.Duration(float64(time.Minute) / timeScale)
		took := back.Sub(first5xx)
		t.Logf("first 5xx to production fully on the original task set: %v (alarm window %v)", took.Round(time.Millisecond), window)
		if took > window+time.Second+500*time.Millisecond { // + the weight poll's own period
			t.Errorf("rollback took %v after the first 5xx, want under the alarm window (%v) + 1 s", took, window)
		}
		e.waitServing(e.prodURL, "v1", 10*time.Second)

		// SNS: Start, Failure and Rollback of the deployment, in order.
		got := sub.waitEvents(t, id, 3, 15*time.Second)
		if strings.Join(got, " ") != "InProgress Failed Failed" {
			t.Errorf("notifications for %s: %v", id, got)
		}
		// FAILED and ROLLBACK are published together, when the rollback
		// ends the deployment, and delivered by concurrent workers: as on
		// an SNS standard topic, either may arrive first.
		subjects := sub.subjectsFor(id)
		if len(subjects) != 3 || !strings.HasPrefix(subjects[0], "CREATED:") ||
			!(strings.HasPrefix(subjects[1], "FAILED:") && strings.HasPrefix(subjects[2], "ROLLBACK:") ||
				strings.HasPrefix(subjects[1], "ROLLBACK:") && strings.HasPrefix(subjects[2], "FAILED:")) {
			t.Errorf("subjects %q", subjects)
		}
	})

	t.Run("SetAlarmStateStopsLinear", func(t *testing.T) {
		defer e.use(t)()
		// The 5xx alarm goes back to OK at its first period without errors.
		deadline := time.Now().Add(30 * time.Second)
		for e.aws("cloudwatch", "describe-alarms", "--alarm-names", "green-5xx", "--query", "MetricAlarms[0].StateValue", "--output", "text") != "OK" {
			if time.Now().After(deadline) {
				t.Fatal("the 5xx alarm did not return to OK")
			}
			time.Sleep(200 * time.Millisecond)
		}
		td := e.registerTaskDef("v3", nil, "")
		id, err := e.awsErr("deploy", "create-deployment", "--application-name", e.app, "--deployment-group-name", e.group,
			"--deployment-config-name", "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
			"--revision", revision(appSpec(td, nil)), "--query", "deploymentId", "--output", "text")
		if err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(time.Minute)
		for {
			w, err := e.weights(e.prodListener)
			if err == nil && w[e.greenTG] >= 20 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the linear deployment never shifted 20%%: %s", e.lifecycle(id))
			}
			time.Sleep(100 * time.Millisecond)
		}
		e.aws("cloudwatch", "set-alarm-state", "--alarm-name", "manual", "--state-value", "ALARM", "--state-reason", "e2e")
		d := e.waitEnded(id, 30*time.Second)
		if d.Status != cdtypes.DeploymentStatusFailed || d.ErrorInformation == nil || d.ErrorInformation.Code != cdtypes.ErrorCodeAlarmActive ||
			!strings.Contains(*d.ErrorInformation.Message, "manual") {
			t.Fatalf("deployment %s: %s %s", id, d.Status, errInfo(d))
		}
		if d.RollbackInfo == nil || d.RollbackInfo.RollbackDeploymentId == nil {
			t.Fatalf("no rollback: %+v", d.RollbackInfo)
		}
		if rb := e.waitEnded(*d.RollbackInfo.RollbackDeploymentId, time.Minute); rb.Status != cdtypes.DeploymentStatusSucceeded {
			t.Fatalf("rollback %s: %s", rb.Status, errInfo(rb))
		}
		e.waitServing(e.prodURL, "v1", 10*time.Second)
		if got := sub.waitEvents(t, id, 3, 15*time.Second); strings.Join(got, " ") != "InProgress Failed Failed" {
			t.Errorf("notifications for %s: %v", id, got)
		}
	})
}

// snsSubscriber is an HTTP endpoint subscribed to an SNS topic: it
// confirms its subscription by fetching SubscribeURL and keeps every
// notification's subject and CodeDeploy message.
type snsSubscriber struct {
	srv       *httptest.Server
	mu        sync.Mutex
	confirmed bool
	notes     []snsNote
}

type snsNote struct {
	Subject, Deployment, Status string
}

func newSNSSubscriber(t *testing.T) *snsSubscriber {
	s := &snsSubscriber{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Type, Subject, Message, SubscribeURL, TopicArn string
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil || r.Header.Get("x-amz-sns-message-type") != m.Type {
			http.Error(w, "not an SNS message", http.StatusBadRequest)
			return
		}
		switch m.Type {
		case "SubscriptionConfirmation":
			resp, err := http.Get(m.SubscribeURL)
			if err != nil || resp.StatusCode != http.StatusOK {
				http.Error(w, fmt.Sprintf("confirming: %v", err), http.StatusBadGateway)
				return
			}
			resp.Body.Close()
			s.mu.Lock()
			s.confirmed = true
			s.mu.Unlock()
		case "Notification":
			var cd struct{ DeploymentID, Status string }
			var raw map[string]any
			json.Unmarshal([]byte(m.Message), &raw)
			cd.DeploymentID, _ = raw["deploymentId"].(string)
			cd.Status, _ = raw["status"].(string)
			s.mu.Lock()
			s.notes = append(s.notes, snsNote{Subject: m.Subject, Deployment: cd.DeploymentID, Status: cd.Status})
			s.mu.Unlock()
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *snsSubscriber) waitConfirmed(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		ok := s.confirmed
		s.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the SNS subscription was never confirmed")
}

// waitEvents waits for n notifications about deployment id and returns
// their statuses in arrival order.
func (s *snsSubscriber) waitEvents(t *testing.T, id string, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var got []string
		s.mu.Lock()
		for _, note := range s.notes {
			if note.Deployment == id {
				got = append(got, note.Status)
			}
		}
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *snsSubscriber) subjectsFor(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, note := range s.notes {
		if note.Deployment == id {
			out = append(out, note.Subject)
		}
	}
	return out
}
