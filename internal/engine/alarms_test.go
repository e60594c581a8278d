package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/codedeploy"
	"github.com/cutover/cutover/internal/triggers"
)

// fakeAlarms is CloudWatch's alarm states; a name that is absent does not
// exist.
type fakeAlarms struct {
	mu     sync.Mutex
	states map[string]string
}

func (f *fakeAlarms) AlarmState(ctx context.Context, name string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.states[name]
	return s, ok, nil
}

func (f *fakeAlarms) set(name, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[name] = state
}

func alarmCfg(ignorePollFailure bool, names ...string) *types.AlarmConfiguration {
	c := &types.AlarmConfiguration{Enabled: true, IgnorePollAlarmFailure: ignorePollFailure}
	for _, n := range names {
		c.Alarms = append(c.Alarms, types.Alarm{Name: aws.String(n)})
	}
	return c
}

func TestAlarmsStopDeployments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		alarms   *types.AlarmConfiguration
		override *types.AlarmConfiguration
		rollback []types.AutoRollbackEvent
		// fire sets the alarm to ALARM once 20% of traffic has shifted.
		fire    bool
		status  types.DeploymentStatus
		message string
		rolled  bool
		prod    string
	}{
		{name: "alarm rolls back", alarms: alarmCfg(false, "5xx"), rollback: []types.AutoRollbackEvent{"DEPLOYMENT_STOP_ON_ALARM"}, fire: true,
			status: types.DeploymentStatusFailed, message: "Activated alarms: 5xx", rolled: true, prod: "blue=100,green=0"},
		{name: "alarm without rollback on alarm", alarms: alarmCfg(false, "5xx"), rollback: []types.AutoRollbackEvent{"DEPLOYMENT_FAILURE"}, fire: true,
			status: types.DeploymentStatusFailed, message: "Activated alarms: 5xx", prod: "blue=80,green=20"},
		{name: "missing alarm stops at start", alarms: alarmCfg(false, "5xx", "gone"), rollback: []types.AutoRollbackEvent{"DEPLOYMENT_STOP_ON_ALARM"},
			status: types.DeploymentStatusFailed, message: "gone (it does not exist)", prod: "blue=100"},
		{name: "missing alarm ignored", alarms: alarmCfg(true, "5xx", "gone"),
			status: types.DeploymentStatusSucceeded, prod: "blue=0,green=100"},
		{name: "alarms disabled", alarms: &types.AlarmConfiguration{Enabled: false, Alarms: []types.Alarm{{Name: aws.String("5xx")}}}, fire: true,
			status: types.DeploymentStatusSucceeded, prod: "blue=0,green=100"},
		{name: "override turns alarms off", alarms: alarmCfg(false, "5xx"), override: &types.AlarmConfiguration{Enabled: false}, fire: true,
			status: types.DeploymentStatusSucceeded, prod: "blue=0,green=100"},
		{name: "override replaces the alarms", alarms: alarmCfg(false, "latency"), override: alarmCfg(false, "5xx"), rollback: []types.AutoRollbackEvent{"DEPLOYMENT_STOP_ON_ALARM"}, fire: true,
			status: types.DeploymentStatusFailed, message: "Activated alarms: 5xx", rolled: true, prod: "blue=100,green=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cw := &fakeAlarms{states: map[string]string{"5xx": "OK", "latency": "OK"}}
			e.alarms = cw
			e.engine = e.newEngine("engine-1", nil)
			e.group("g", groupOpts{config: "CodeDeployDefault.ECSLinear10PercentEvery1Minutes", rollback: tc.rollback, alarms: tc.alarms})
			out, err := e.client.CreateDeployment(e.ctx, &cd.CreateDeploymentInput{
				ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("g"), OverrideAlarmConfiguration: tc.override,
				Revision: &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Content: aws.String(appSpec("web:2", nil))}},
			})
			if err != nil {
				t.Fatal(err)
			}
			id := *out.DeploymentId
			if tc.fire {
				if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool {
					return d.Target != nil && len(d.Target.TaskSetsInfo) == 2 && d.Target.TaskSetsInfo[1].TrafficWeight == 20
				}); err != nil {
					t.Fatal(err)
				}
				cw.set("5xx", "ALARM")
			}
			if err := e.drive(e.engine, id, nil); err != nil {
				t.Fatal(err)
			}
			got := e.get(id)
			if got.Status != tc.status {
				t.Fatalf("status %s %+v", got.Status, got.ErrorInformation)
			}
			if tc.message != "" {
				if got.ErrorInformation == nil || got.ErrorInformation.Code != types.ErrorCodeAlarmActive || !strings.Contains(*got.ErrorInformation.Message, tc.message) {
					t.Fatalf("error %+v", got.ErrorInformation)
				}
			}
			if tc.rolled != (got.RollbackInfo != nil) {
				t.Fatalf("rollback %+v, want rolled=%v", got.RollbackInfo, tc.rolled)
			}
			if tc.rolled {
				// The alarm still fires: the rollback must run anyway.
				rid := *got.RollbackInfo.RollbackDeploymentId
				if err := e.drive(e.engine, rid, nil); err != nil {
					t.Fatal(err)
				}
				if rb := e.get(rid); rb.Status != types.DeploymentStatusSucceeded {
					t.Fatalf("rollback %s %+v", rb.Status, rb.ErrorInformation)
				}
			}
			if w := e.traffic.get(prodListener); w != tc.prod {
				t.Errorf("prod %s, want %s", w, tc.prod)
			}
		})
	}
}

// recordingPublisher is an SNS topic that keeps what it is sent.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []string // "subject|message"
}

func (p *recordingPublisher) Publish(ctx context.Context, topic, subject, message string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, subject+"|"+message)
	return "m", nil
}

func TestTriggersFollowAnAlarmRollback(t *testing.T) {
	e := newEnv(t)
	cw := &fakeAlarms{states: map[string]string{"5xx": "OK"}}
	e.alarms = cw
	e.engine = e.newEngine("engine-1", nil)
	var hookMu sync.Mutex
	var webhook []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		webhook = append(webhook, r.Header.Get("X-Cutover-Event")+"|"+string(b))
		hookMu.Unlock()
	}))
	defer srv.Close()
	topic := "arn:aws:sns:us-east-1:123456789012:deploys"
	all := []types.TriggerEventType{"DeploymentStart", "DeploymentSuccess", "DeploymentFailure", "DeploymentStop", "DeploymentRollback", "DeploymentReady"}
	e.group("g", groupOpts{config: "CodeDeployDefault.ECSCanary10Percent5Minutes", rollback: []types.AutoRollbackEvent{"DEPLOYMENT_STOP_ON_ALARM"}, alarms: alarmCfg(false, "5xx"),
		triggers: []types.TriggerConfig{
			{TriggerName: aws.String("ops"), TriggerTargetArn: aws.String(topic), TriggerEvents: all},
			{TriggerName: aws.String("hook"), TriggerTargetArn: aws.String(srv.URL + "/cd"), TriggerEvents: []types.TriggerEventType{"DeploymentFailure"}},
		}})
	id := e.mustCreate("g", "web:2", nil)
	if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool {
		return d.Target != nil && len(d.Target.TaskSetsInfo) == 2 && d.Target.TaskSetsInfo[1].TrafficWeight == 10
	}); err != nil {
		t.Fatal(err)
	}
	cw.set("5xx", "ALARM")
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	rid := *e.get(id).RollbackInfo.RollbackDeploymentId
	if err := e.drive(e.engine, rid, nil); err != nil {
		t.Fatal(err)
	}

	pub := &recordingPublisher{}
	disp, err := triggers.NewDispatcher(triggers.Config{Store: e.st, Publisher: pub, Clock: e.clk, Owner: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := disp.DeliverDue(e.ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range pub.msgs {
		subject, body, _ := strings.Cut(m, "|")
		var msg map[string]any
		if err := json.Unmarshal([]byte(body), &msg); err != nil {
			t.Fatalf("message %s: %v", body, err)
		}
		if msg["eventTriggerName"] != "ops" || msg["applicationName"] != "app" || msg["deploymentGroupName"] != "g" || msg["region"] != "us-east-1" || msg["accountId"] != "123456789012" {
			t.Errorf("message %s", body)
		}
		if _, ok := msg["deploymentOverview"].(map[string]any)["Succeeded"].(string); !ok {
			t.Errorf("overview counts are not strings: %s", body)
		}
		got = append(got, strings.SplitN(subject, ":", 2)[0]+" "+msg["deploymentId"].(string)+" "+msg["status"].(string))
		if msg["status"] == "Failed" {
			ei := msg["errorInformation"].(map[string]any)
			if ei["ErrorCode"] != "ALARM_ACTIVE" || !strings.Contains(ei["ErrorMessage"].(string), "5xx") {
				t.Errorf("errorInformation %v", ei)
			}
		}
	}
	want := []string{"CREATED " + id + " InProgress", "FAILED " + id + " Failed", "ROLLBACK " + id + " Failed", "CREATED " + rid + " InProgress", "SUCCEEDED " + rid + " Succeeded"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("published\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(webhook) != 1 || !strings.HasPrefix(webhook[0], "DeploymentFailure|{") || !strings.Contains(webhook[0], `"eventTriggerName":"hook"`) {
		t.Errorf("webhook got %q", webhook)
	}
	// Delivered notifications leave the outbox.
	if err := disp.DeliverDue(e.ctx); err != nil || len(pub.msgs) != 5 {
		t.Errorf("second pass: %v, %d messages", err, len(pub.msgs))
	}
}
