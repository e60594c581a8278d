package ecs_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

// badInput: revisions CreateDeployment must refuse (nothing changes), then
// replacements that cannot run (an image that cannot be pulled, a task
// that crashes on start): the deployment fails with a clear reason, nothing
// of it is left running, and production serves v2 throughout.
func (e *env) badInput(t *testing.T) {
	defer e.use(t)()
	td := e.registerTaskDef("v4", nil, "")
	valid := func() map[string]any {
		var m map[string]any
		json.Unmarshal([]byte(appSpec(td, nil)), &m)
		return m
	}
	props := func(m map[string]any) map[string]any {
		return m["Resources"].([]any)[0].(map[string]any)["TargetService"].(map[string]any)["Properties"].(map[string]any)
	}
	enc := func(m map[string]any) string { b, _ := json.Marshal(m); return string(b) }

	refused := []struct {
		name, content string
		want          []string // acceptable error codes
		mention       string   // the message names this
	}{
		{"unknown top-level key", func() string { m := valid(); m["Colour"] = "blue"; return enc(m) }(),
			[]string{"InvalidRevisionException"}, "Colour"},
		{"unknown property", func() string { m := valid(); props(m)["Replicas"] = 3; return enc(m) }(),
			[]string{"InvalidRevisionException"}, "Replicas"},
		{"missing TaskDefinition", func() string { m := valid(); delete(props(m), "TaskDefinition"); return enc(m) }(),
			[]string{"InvalidRevisionException"}, "TaskDefinition"},
		{"container the task definition lacks", func() string {
			m := valid()
			props(m)["LoadBalancerInfo"] = map[string]any{"ContainerName": "api", "ContainerPort": 8080}
			return enc(m)
		}(), []string{"InvalidRevisionException", "InvalidECSServiceException"}, "api"},
		{"port the container lacks", func() string {
			m := valid()
			props(m)["LoadBalancerInfo"] = map[string]any{"ContainerName": "web", "ContainerPort": 9090}
			return enc(m)
		}(), []string{"InvalidRevisionException", "InvalidECSServiceException"}, "9090"},
		{"task definition that does not exist", func() string {
			m := valid()
			props(m)["TaskDefinition"] = strings.Replace(td, ":4", ":99", 1)
			return enc(m)
		}(), []string{"InvalidRevisionException", "InvalidECSServiceException"}, "99"},
		{"Lambda AppSpec for an ECS group",
			`{"version":0.0,"Resources":[{"fn":{"Type":"AWS::Lambda::Function","Properties":{"Name":"fn","Alias":"live","CurrentVersion":"1","TargetVersion":"2"}}}]}`,
			[]string{"InvalidRevisionException", "InvalidDeploymentConfigNameException", "InvalidComputePlatformException"}, "Lambda"},
		{"not an AppSpec", `{"version":0.0,"Resources":`, []string{"InvalidRevisionException"}, ""},
	}
	if e.rt != "process" {
		// CreateDeployment's checks do not depend on the runtime: they run
		// once, with the process runtime.
		refused = nil
	}
	before := e.deploymentIDs()
	codeRE := regexp.MustCompile(`An error occurred \((\w+)\)`)
	for _, c := range refused {
		t.Run("Refused/"+strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			defer e.use(t)()
			id, err := e.createDeployment(c.content)
			if err == nil {
				t.Errorf("create-deployment accepted it: deployment %s", id)
				// Let it end so the group is free for the next case.
				e.waitEnded(strings.TrimSpace(id), 2*time.Minute)
				return
			}
			msg := err.Error()
			m := codeRE.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("not an AWS error: %v", err)
			}
			ok := false
			for _, w := range c.want {
				ok = ok || m[1] == w
			}
			if !ok {
				t.Errorf("error %s, want one of %v: %s", m[1], c.want, msg)
			}
			if c.mention != "" && !strings.Contains(msg, c.mention) {
				t.Errorf("the message does not name %q: %s", c.mention, msg)
			}
			t.Logf("%s", msg[strings.Index(msg, "An error occurred"):])
		})
	}
	if after := e.deploymentIDs(); len(after) != len(before) {
		t.Errorf("refused revisions changed the group's deployments: %d before, %d after", len(before), len(after))
	}
	if got, f := ecstest.Versions(e.prodURL, 50); got["v2"] != 50 {
		t.Errorf("after the refused revisions production answered %v %s, want only v2", got, f)
	}

	// Replacements that cannot run.
	type failCase struct {
		name    string
		td      string
		image   string // docker: the image whose containers must be gone
		message *regexp.Regexp
	}
	cases := []failCase{{
		name: "task crashes on start",
		td:   e.registerTaskDef("v4", map[string]string{"EXIT_AFTER": "0s", "EXIT_CODE": "3"}, ""),
		// The essential container's exit, as ECS words it.
		message: regexp.MustCompile(`(?i)exit`),
		image:   e.images["v4"],
	}}
	if e.rt == "docker" {
		missing := e.reg.Host + "/versionserver:v404"
		cases = append(cases, failCase{
			name: "image cannot be pulled", td: e.registerTaskDef("v4", nil, missing),
			message: regexp.MustCompile(`CannotPullContainerError`), image: missing,
		})
	}
	for _, c := range cases {
		t.Run("Fails/"+strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			defer e.use(t)()
			load := ecstest.StartLoad(e.prodURL, 2, 5*time.Millisecond, 3*time.Minute, 100_000)
			start := time.Now()
			id, err := e.createDeployment(appSpec(c.td, nil))
			if err != nil {
				load.Stop()
				t.Fatal(err)
			}
			d := e.waitEnded(id, 2*time.Minute)
			took := time.Since(start)
			if d.Status != cdtypes.DeploymentStatusFailed {
				load.Stop()
				t.Fatalf("deployment %s: %s, want Failed", id, d.Status)
			}
			ei := errInfo(d)
			t.Logf("failed after %v: %s", took.Round(time.Millisecond), ei)
			if !c.message.MatchString(ei) {
				t.Errorf("errorInformation %q does not match %v", ei, c.message)
			}
			if d.RollbackInfo != nil && aws.ToString(d.RollbackInfo.RollbackDeploymentId) != "" {
				rb := e.waitEnded(aws.ToString(d.RollbackInfo.RollbackDeploymentId), 2*time.Minute)
				if rb.Status != cdtypes.DeploymentStatusSucceeded {
					t.Errorf("rollback %s: %s %s", aws.ToString(rb.DeploymentId), rb.Status, errInfo(rb))
				}
			}
			e.waitRunningTasks(2, 30*time.Second)
			if e.rt == "docker" {
				e.waitNoContainers(c.image, 30*time.Second)
			}
			results := load.Stop()
			failed, examples, versions := ecstest.Summarize(results)
			t.Logf("load: %d requests, versions %v, %d failed", len(results), versions, failed)
			if failed > 0 {
				t.Errorf("%d production requests failed, e.g. %s", failed, strings.Join(examples, "; "))
			}
			if len(versions) != 1 || versions["v2"] == 0 {
				t.Errorf("production answered %v, want only v2", versions)
			}
			sets := e.aws("ecs", "describe-services", "--cluster", e.cluster, "--services", e.service,
				"--query", "services[0].taskSets[].[status,taskDefinition]", "--output", "text")
			if strings.Count(sets, "\n") != 0 || !strings.Contains(sets, "web:2") {
				t.Errorf("task sets after the failed deployment:\n%s\nwant only the v2 set", sets)
			}
		})
	}
}

// waitNoContainers waits until Docker has no container of image (running
// or stopped).
func (e *env) waitNoContainers(image string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var left []ecstest.Container
	for time.Now().Before(deadline) {
		cs, err := ecstest.Containers(e.reg.Host)
		if err != nil {
			e.t.Fatal(err)
		}
		left = left[:0]
		for _, c := range cs {
			if c.Image == image {
				left = append(left, c)
			}
		}
		if len(left) == 0 {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	e.t.Errorf("containers of %s left %v after the deployment ended: %+v", image, timeout, left)
}

// deploymentIDs lists the group's deployments.
func (e *env) deploymentIDs() []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.cd.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String(e.app), DeploymentGroupName: aws.String(e.group)})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Deployments
}
