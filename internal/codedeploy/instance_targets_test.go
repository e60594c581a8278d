package codedeploy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/s3"
	"github.com/cutover/cutover/internal/store"
)

// fakeBundles is a bucket with one object per key.
type fakeBundles map[string]string // key → ETag

func (f fakeBundles) Head(ctx context.Context, bucket, key, version string) (s3.ObjectInfo, error) {
	if version != "" {
		return s3.ObjectInfo{}, awsproto.Errorf("NoSuchVersion", "The specified version does not exist.")
	}
	etag, ok := f[key]
	if bucket != "bundles" || !ok {
		return s3.ObjectInfo{}, awsproto.Errorf("NoSuchKey", "The specified key does not exist.")
	}
	return s3.ObjectInfo{Bucket: bucket, Key: key, ETag: etag}, nil
}

// serverFleet makes app "srv", instances h1..hn tagged fleet=web (and one
// tagged fleet=db, and h-gone deregistered) and group "g" selecting fleet=web.
func serverFleet(t *testing.T, e *env, n int, triggers []types.TriggerConfig) {
	t.Helper()
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String("srv")}))
	add := func(name, fleet string) {
		must[*cd.RegisterOnPremisesInstanceOutput](t)(e.client.RegisterOnPremisesInstance(bg, &cd.RegisterOnPremisesInstanceInput{
			InstanceName: aws.String(name), IamUserArn: aws.String("arn:aws:iam::123456789012:user/" + name)}))
		must[*cd.AddTagsToOnPremisesInstancesOutput](t)(e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{
			InstanceNames: []string{name}, Tags: []types.Tag{{Key: aws.String("fleet"), Value: aws.String(fleet)}, {Key: aws.String("zone"), Value: aws.String(name[len(name)-1:])}}}))
	}
	for i := 1; i <= n; i++ {
		add(fmt.Sprintf("h%d", i), "web")
	}
	add("db1", "db")
	add("h-gone", "web")
	must[*cd.DeregisterOnPremisesInstanceOutput](t)(e.client.DeregisterOnPremisesInstance(bg, &cd.DeregisterOnPremisesInstanceInput{InstanceName: aws.String("h-gone")}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{
		ApplicationName: aws.String("srv"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole),
		OnPremisesInstanceTagFilters: []types.TagFilter{{Key: aws.String("fleet"), Value: aws.String("web"), Type: types.TagFilterTypeKeyAndValue}},
		TriggerConfigurations:        triggers,
	}))
}

func tgzRev(key string) *types.RevisionLocation {
	return &types.RevisionLocation{RevisionType: types.RevisionLocationTypeS3, S3Location: &types.S3Location{
		Bucket: aws.String("bundles"), Key: aws.String(key), BundleType: types.BundleTypeTarGZip}}
}

func TestCreateServerDeploymentRevisions(t *testing.T) {
	e := newEnv(t)
	serverFleet(t, e, 1, nil)
	e.svc.SetBundles(fakeBundles{"app.tgz": "0123abcd"})
	before := e.snapshot(t)
	create := func(rev *types.RevisionLocation) error {
		_, err := e.client.CreateDeployment(bg, &cd.CreateDeploymentInput{ApplicationName: aws.String("srv"), DeploymentGroupName: aws.String("g"), Revision: rev})
		return err
	}
	withS3 := func(mut func(*types.S3Location)) *types.RevisionLocation {
		r := tgzRev("app.tgz")
		mut(r.S3Location)
		return r
	}
	for _, c := range []struct {
		name string
		rev  *types.RevisionLocation
		code string
	}{
		{"github", &types.RevisionLocation{RevisionType: types.RevisionLocationTypeGitHub, GitHubLocation: &types.GitHubLocation{Repository: aws.String("o/r"), CommitId: aws.String("abc")}}, "InvalidRevisionException"},
		{"appspec content", &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Content: aws.String("version: 0.0")}}, "InvalidRevisionException"},
		{"string", &types.RevisionLocation{RevisionType: types.RevisionLocationTypeString, String_: &types.RawString{Content: aws.String("version: 0.0")}}, "InvalidRevisionException"},
		{"no bundle type", withS3(func(l *types.S3Location) { l.BundleType = "" }), "InvalidRevisionException"},
		{"yaml bundle", withS3(func(l *types.S3Location) { l.BundleType = types.BundleTypeYaml }), "InvalidRevisionException"},
		{"missing object", withS3(func(l *types.S3Location) { l.Key = aws.String("nope.tgz") }), "InvalidRevisionException"},
		{"other etag", withS3(func(l *types.S3Location) { l.ETag = aws.String("ffff") }), "InvalidRevisionException"},
		{"unknown version", withS3(func(l *types.S3Location) { l.Version = aws.String("v9") }), "InvalidRevisionException"},
	} {
		t.Run(c.name, func(t *testing.T) { wantCode(t, create(c.rev), c.code) })
	}
	e.unchanged(t, before, "refused deployments")
	// The object as named, quoted ETag included, is taken.
	ok(t, create(withS3(func(l *types.S3Location) { l.ETag = aws.String(`"0123abcd"`) })))
}

func TestGroupInstancesSelection(t *testing.T) {
	e := newEnv(t)
	serverFleet(t, e, 3, nil)
	kv := func(k, v string) TagFilter { return TagFilter{Key: ptr(k), Value: ptr(v), Type: ptr("KEY_AND_VALUE")} }
	for _, c := range []struct {
		name   string
		g      DeploymentGroupInfo
		narrow *TargetInstances
		want   string
	}{
		{"nothing selects nothing", DeploymentGroupInfo{}, nil, ""},
		{"key and value", DeploymentGroupInfo{OnPremisesInstanceTagFilters: []TagFilter{kv("fleet", "web")}}, nil, "h1 h2 h3"},
		{"filters are OR-ed", DeploymentGroupInfo{OnPremisesInstanceTagFilters: []TagFilter{kv("fleet", "db"), kv("zone", "2")}}, nil, "db1 h2"},
		{"key only", DeploymentGroupInfo{OnPremisesInstanceTagFilters: []TagFilter{{Key: ptr("zone"), Type: ptr("KEY_ONLY")}}}, nil, "db1 h1 h2 h3"},
		{"value only", DeploymentGroupInfo{OnPremisesInstanceTagFilters: []TagFilter{{Value: ptr("3"), Type: ptr("VALUE_ONLY")}}}, nil, "h3"},
		{"tag set is AND of groups", DeploymentGroupInfo{OnPremisesTagSet: &OnPremisesTagSet{OnPremisesTagSetList: [][]TagFilter{
			{kv("fleet", "web")}, {kv("zone", "1"), kv("zone", "3")}}}}, nil, "h1 h3"},
		{"ec2 filters match on-premises tags", DeploymentGroupInfo{EC2TagFilters: []EC2TagFilter{{Key: ptr("fleet"), Value: ptr("db"), Type: ptr("KEY_AND_VALUE")}}}, nil, "db1"},
		{"ec2 tag set", DeploymentGroupInfo{EC2TagSet: &EC2TagSet{EC2TagSetList: [][]EC2TagFilter{{{Key: ptr("zone"), Value: ptr("2"), Type: ptr("KEY_AND_VALUE")}}}}}, nil, "h2"},
		{"target instances narrow", DeploymentGroupInfo{OnPremisesInstanceTagFilters: []TagFilter{kv("fleet", "web")}},
			&TargetInstances{TagFilters: []EC2TagFilter{{Key: ptr("zone"), Value: ptr("1"), Type: ptr("KEY_AND_VALUE")}}}, "h1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := e.svc.GroupInstances(bg, &c.g, c.narrow)
			ok(t, err)
			var names []string
			for _, in := range got {
				names = append(names, in.InstanceName)
			}
			if s := strings.Join(names, " "); s != c.want {
				t.Fatalf("selected %q, want %q", s, c.want)
			}
		})
	}
}

// startServerDeployment creates a deployment and stores its instances as
// the engine would: h1 Succeeded, h2 Failed with diagnostics, h3 and up
// Pending.
func startServerDeployment(t *testing.T, e *env, n int) (string, *Deployment) {
	t.Helper()
	out := must[*cd.CreateDeploymentOutput](t)(e.client.CreateDeployment(bg, &cd.CreateDeploymentInput{
		ApplicationName: aws.String("srv"), DeploymentGroupName: aws.String("g"), Revision: tgzRev("app.tgz")}))
	id := *out.DeploymentId
	for _, op := range []error{
		second(e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: &id})),
		second(e.client.BatchGetDeploymentTargets(bg, &cd.BatchGetDeploymentTargetsInput{DeploymentId: &id, TargetIds: []string{"h1"}})),
		second(e.client.ListDeploymentInstances(bg, &cd.ListDeploymentInstancesInput{DeploymentId: &id})),
	} {
		wantType[*types.DeploymentNotStartedException](t, op)
	}
	ok(t, e.svc.UpdateDeployment(bg, id, func(d *Deployment) error {
		d.Status = StatusInProgress
		tm := e.svc.nowTime()
		d.StartTime = &tm
		return nil
	}))
	d, err := e.svc.Deployment(bg, id)
	ok(t, err)
	var ins []*ServerInstance
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("h%d", i)
		t := InstanceTarget{DeploymentID: id, TargetID: name, TargetArn: e.svc.instanceArn(name), Status: EventPending, LastUpdatedAt: e.svc.nowTime(),
			LifecycleEvents: []LifecycleEvent{{LifecycleEventName: "ApplicationStop", Status: EventPending}, {LifecycleEventName: "ValidateService", Status: EventPending}}}
		ins = append(ins, &ServerInstance{Target: t, InstanceName: name, HostIdentifier: "arn:aws:iam::123456789012:user/" + name})
	}
	if err := e.svc.PutServerInstances(bg, d, ins); err != nil {
		t.Fatal(err)
	}
	// Move two of them on, as later steps would.
	ins[0].Target.Status = EventInProgress
	ins[1].Target.Status = EventInProgress
	ok(t, e.svc.PutServerInstances(bg, d, ins[:2]))
	ins[0].Target.Status = EventSucceeded
	ins[0].Target.LifecycleEvents[0].Status, ins[0].Target.LifecycleEvents[1].Status = EventSucceeded, EventSucceeded
	ins[1].Target.Status = EventFailed
	ins[1].Target.LifecycleEvents[0].Status = EventSucceeded
	ins[1].Target.LifecycleEvents[1].Status = EventFailed
	ins[1].Target.LifecycleEvents[1].Diagnostics = &Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "scripts/v.sh", Message: "exit 3", LogTail: "[stderr]no\n"}
	ok(t, e.svc.PutServerInstances(bg, d, ins[:2]))
	return id, d
}

func TestServerTargetOperations(t *testing.T) {
	e := newEnv(t)
	serverFleet(t, e, 5, nil)
	id, _ := startServerDeployment(t, e, 5)

	// ListDeploymentTargets pages (page size 2 in tests) and filters.
	var all []string
	for next := (*string)(nil); ; {
		page := must[*cd.ListDeploymentTargetsOutput](t)(e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: &id, NextToken: next}))
		all = append(all, page.TargetIds...)
		if next = page.NextToken; next == nil {
			break
		}
	}
	if !slices.Equal(all, []string{"h1", "h2", "h3", "h4", "h5"}) {
		t.Fatalf("targets %v", all)
	}
	lt := must[*cd.ListDeploymentTargetsOutput](t)(e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: &id,
		TargetFilters: map[string][]string{"TargetStatus": {"Failed", "Succeeded"}}}))
	if !slices.Equal(lt.TargetIds, []string{"h1", "h2"}) || lt.NextToken != nil {
		t.Fatalf("filtered %v %v", lt.TargetIds, lt.NextToken)
	}
	_, err := e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: &id, TargetFilters: map[string][]string{"ServerInstanceLabel": {"Blue"}}})
	wantCode(t, err, "InvalidDeploymentInstanceTypeException")
	_, err = e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: &id, NextToken: aws.String("garbage")})
	wantCode(t, err, "InvalidNextTokenException")

	bt := must[*cd.BatchGetDeploymentTargetsOutput](t)(e.client.BatchGetDeploymentTargets(bg, &cd.BatchGetDeploymentTargetsInput{DeploymentId: &id, TargetIds: []string{"h2", "h1"}}))
	if len(bt.DeploymentTargets) != 2 {
		t.Fatalf("targets %+v", bt.DeploymentTargets)
	}
	h2 := bt.DeploymentTargets[0].InstanceTarget
	if bt.DeploymentTargets[0].DeploymentTargetType != types.DeploymentTargetTypeInstanceTarget || *h2.TargetId != "h2" || h2.Status != types.TargetStatusFailed ||
		*h2.TargetArn != "arn:aws:codedeploy:us-east-1:123456789012:instance/h2" || *h2.DeploymentId != id || h2.LastUpdatedAt == nil {
		t.Fatalf("h2 %+v", h2)
	}
	if dg := h2.LifecycleEvents[1].Diagnostics; dg.ErrorCode != types.LifecycleErrorCodeScriptFailed || *dg.ScriptName != "scripts/v.sh" || *dg.LogTail != "[stderr]no\n" {
		t.Fatalf("diagnostics %+v", dg)
	}
	_, err = e.client.BatchGetDeploymentTargets(bg, &cd.BatchGetDeploymentTargetsInput{DeploymentId: &id, TargetIds: []string{"h1", "db1"}})
	wantCode(t, err, "DeploymentTargetDoesNotExistException")
	gt := must[*cd.GetDeploymentTargetOutput](t)(e.client.GetDeploymentTarget(bg, &cd.GetDeploymentTargetInput{DeploymentId: &id, TargetId: aws.String("h3")}))
	if gt.DeploymentTarget.InstanceTarget.Status != types.TargetStatusPending {
		t.Fatalf("h3 %+v", gt.DeploymentTarget.InstanceTarget)
	}
	_, err = e.client.GetDeploymentTarget(bg, &cd.GetDeploymentTargetInput{DeploymentId: &id, TargetId: aws.String("nope")})
	wantCode(t, err, "DeploymentTargetDoesNotExistException")

	// The legacy instance operations name instances by ARN.
	var arns []string
	lp := cd.NewListDeploymentInstancesPaginator(e.client, &cd.ListDeploymentInstancesInput{DeploymentId: &id, InstanceStatusFilter: []types.InstanceStatus{"Pending"}})
	for lp.HasMorePages() {
		arns = append(arns, must[*cd.ListDeploymentInstancesOutput](t)(lp.NextPage(bg)).InstancesList...)
	}
	if len(arns) != 3 || !strings.HasSuffix(arns[0], ":instance/h3") {
		t.Fatalf("pending instances %v", arns)
	}
	_, err = e.client.ListDeploymentInstances(bg, &cd.ListDeploymentInstancesInput{DeploymentId: &id, InstanceTypeFilter: []types.InstanceType{"Green"}})
	wantCode(t, err, "InvalidDeploymentInstanceTypeException")
	gi := must[*cd.GetDeploymentInstanceOutput](t)(e.client.GetDeploymentInstance(bg, &cd.GetDeploymentInstanceInput{DeploymentId: &id, InstanceId: aws.String("h1")}))
	if s := gi.InstanceSummary; s.Status != types.InstanceStatusSucceeded || !strings.HasSuffix(*s.InstanceId, ":instance/h1") || len(s.LifecycleEvents) != 2 {
		t.Fatalf("summary %+v", s)
	}
	gi = must[*cd.GetDeploymentInstanceOutput](t)(e.client.GetDeploymentInstance(bg, &cd.GetDeploymentInstanceInput{DeploymentId: &id, InstanceId: aws.String(e.svc.instanceArn("h2"))}))
	if gi.InstanceSummary.Status != types.InstanceStatusFailed {
		t.Fatalf("by ARN %+v", gi.InstanceSummary)
	}
	_, err = e.client.GetDeploymentInstance(bg, &cd.GetDeploymentInstanceInput{DeploymentId: &id, InstanceId: aws.String("db1")})
	wantCode(t, err, "InstanceDoesNotExistException")
	bi := must[*cd.BatchGetDeploymentInstancesOutput](t)(e.client.BatchGetDeploymentInstances(bg, &cd.BatchGetDeploymentInstancesInput{DeploymentId: &id, InstanceIds: []string{"h1", "zz"}}))
	if len(bi.InstancesSummary) != 1 || bi.ErrorMessage == nil || !strings.Contains(*bi.ErrorMessage, "zz") {
		t.Fatalf("batch %+v", bi)
	}
}

// TestInstanceTriggers: a status change of an instance queues the
// group's instance triggers in the outbox, in AWS's message format.
func TestInstanceTriggers(t *testing.T) {
	e := newEnv(t)
	serverFleet(t, e, 2, []types.TriggerConfig{{TriggerName: aws.String("inst"), TriggerTargetArn: aws.String("https://hooks.example.com/cd"),
		TriggerEvents: []types.TriggerEventType{types.TriggerEventTypeInstanceStart, types.TriggerEventTypeInstanceSuccess, types.TriggerEventTypeInstanceFailure}}})
	startServerDeployment(t, e, 2)
	var got []string
	var msgs []map[string]any
	ok(t, e.st.View(bg, func(tx store.Tx) error {
		recs, err := tx.List("trigger-outbox", store.ListOptions{Prefix: "n-"})
		if err != nil {
			return err
		}
		for _, r := range recs {
			var n struct{ Event, Ref, Message string }
			if err := json.Unmarshal(r.Data, &n); err != nil {
				return err
			}
			if !strings.HasPrefix(n.Event, "Instance") {
				continue
			}
			got = append(got, n.Event+" "+n.Ref[strings.Index(n.Ref, "/")+1:])
			var m map[string]any
			if err := json.Unmarshal([]byte(n.Message), &m); err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return nil
	}))
	want := []string{"InstanceStart h1", "InstanceStart h2", "InstanceSuccess h1", "InstanceFailure h2"}
	if !slices.Equal(got, want) {
		t.Fatalf("instance notifications %v, want %v", got, want)
	}
	m := msgs[3]
	if m["instanceStatus"] != "Failed" || m["eventTriggerName"] != "inst" || !strings.HasSuffix(m["instanceId"].(string), ":instance/h2") || m["region"] != testRegion {
		t.Fatalf("message %v", m)
	}
	evs := m["lifecycleEvents"].([]any)
	if ev := evs[1].(map[string]any); ev["LifecycleEvent"] != "ValidateService" || ev["LifecycleEventStatus"] != "Failed" {
		t.Fatalf("events %v", evs)
	}
	// The revision is remembered for updateOutdatedInstancesOnly.
	has, err := e.svc.InstanceHasRevision(bg, "srv", "g", "h1", &RevisionLocation{RevisionType: ptr("S3"), S3Location: &S3Location{Bucket: ptr("bundles"), Key: ptr("app.tgz"), BundleType: ptr("tgz")}})
	if err != nil || !has {
		t.Fatalf("h1 has the revision: %v %v", has, err)
	}
	if has, _ := e.svc.InstanceHasRevision(bg, "srv", "g", "h2", &RevisionLocation{RevisionType: ptr("S3"), S3Location: &S3Location{Bucket: ptr("bundles"), Key: ptr("app.tgz"), BundleType: ptr("tgz")}}); has {
		t.Fatal("a failed instance has the revision")
	}
}
