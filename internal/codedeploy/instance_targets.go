package codedeploy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/triggers"
)

// A Server deployment's instances are records of their own, one per
// instance, so that a step of a 1,000-instance deployment rewrites only the
// instances it moved. The deployment record keeps the overview counts.
const (
	kindInstanceTarget = "codedeploy.instancetarget" // key: <deployment id>/<instance name>; index: deployment id
	// kindInstanceRevision remembers the revision an instance last
	// installed successfully in a group (updateOutdatedInstancesOnly).
	kindInstanceRevision = "codedeploy.instancerevision" // key: <app>/<group>/<instance name>
)

// Instance trigger events, named as TriggerEventType.
const (
	EventInstanceStart   = "InstanceStart"
	EventInstanceSuccess = "InstanceSuccess"
	EventInstanceFailure = "InstanceFailure"
	EventInstanceReady   = "InstanceReady"
)

// InstanceTarget is one instance of a Server deployment as the target
// operations report it.
type InstanceTarget struct {
	DeploymentID    string           `json:"deploymentId"`
	TargetID        string           `json:"targetId"`
	TargetArn       string           `json:"targetArn,omitempty"`
	Status          string           `json:"status"`
	LastUpdatedAt   awsproto.Time    `json:"lastUpdatedAt"`
	LifecycleEvents []LifecycleEvent `json:"lifecycleEvents"`
	InstanceLabel   string           `json:"instanceLabel,omitempty"`
}

// Event returns the named lifecycle event, or nil.
func (t *InstanceTarget) Event(name string) *LifecycleEvent {
	for i := range t.LifecycleEvents {
		if t.LifecycleEvents[i].LifecycleEventName == name {
			return &t.LifecycleEvents[i]
		}
	}
	return nil
}

func (t *InstanceTarget) Events() []LifecycleEvent { return t.LifecycleEvents }
func (t *InstanceTarget) TargetStatus() string     { return t.Status }
func (t *InstanceTarget) SetTargetStatus(s string) { t.Status = s }
func (t *InstanceTarget) Touch(now time.Time) {
	t.LastUpdatedAt = awsproto.NewTime(now.UTC().Truncate(time.Millisecond))
}

// ServerInstance is the stored form of an instance target: the target, the
// identity its agent polls as, and the engine's own progress, which this
// package keeps without reading.
type ServerInstance struct {
	Target         InstanceTarget  `json:"target"`
	InstanceName   string          `json:"instanceName"`
	HostIdentifier string          `json:"hostIdentifier"`
	EngineState    json.RawMessage `json:"engineState,omitempty"`
}

func instanceTargetKey(deploymentID, instance string) string { return deploymentID + "/" + instance }

// ServerInstances returns a deployment's instances, sorted by name.
func (s *Service) ServerInstances(ctx context.Context, deploymentID string) ([]*ServerInstance, error) {
	var out []*ServerInstance
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, _, err = store.ListJSON[ServerInstance](tx, kindInstanceTarget, store.ListOptions{Prefix: deploymentID + "/"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the instances of %s: %w", deploymentID, err)
	}
	return out, nil
}

// PutServerInstances stores instances of a deployment (new or changed) in
// one transaction. An instance whose status changed fires its instance
// trigger (InstanceStart, InstanceSuccess, InstanceFailure, InstanceReady)
// through the outbox in the same transaction, and one that succeeded is
// recorded as having the deployment's revision.
func (s *Service) PutServerInstances(ctx context.Context, d *Deployment, instances []*ServerInstance) error {
	if len(instances) == 0 {
		return nil
	}
	queued := false
	err := s.st.Update(ctx, func(tx store.Tx) error {
		queued = false
		g, _, err := loadGroup(tx, d.ApplicationName, d.DeploymentGroupName)
		if err != nil {
			if awsproto.AsError(err) == nil {
				return err
			}
			g = nil // deleted meanwhile: nobody to notify
		}
		for _, in := range instances {
			key := instanceTargetKey(d.DeploymentID, in.InstanceName)
			old, rec, err := store.GetJSON[ServerInstance](tx, kindInstanceTarget, key)
			before := ""
			switch {
			case err == nil:
				before = old.Target.Status
			case isNotFound(err):
				rec = &store.Record{Kind: kindInstanceTarget, Key: key, Index: d.DeploymentID}
			default:
				return err
			}
			if err := store.PutJSON(tx, rec, in); err != nil {
				return fmt.Errorf("storing instance %s of %s: %w", in.InstanceName, d.DeploymentID, err)
			}
			after := in.Target.Status
			if after == before {
				continue
			}
			if after == EventSucceeded && d.FullRevision != nil {
				if err := putInstanceRevision(tx, d, in.InstanceName); err != nil {
					return err
				}
			}
			if ev := instanceEvent(after); ev != "" && g != nil {
				n, err := s.queueInstanceTriggers(tx, g, in, ev)
				if err != nil {
					return err
				}
				queued = queued || n > 0
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if queued {
		s.wakeTriggers()
	}
	return nil
}

type instanceRevision struct {
	Revision     string `json:"revision"`
	DeploymentID string `json:"deploymentId"`
}

func putInstanceRevision(tx store.Tx, d *Deployment, instance string) error {
	key := groupKey(d.ApplicationName, d.DeploymentGroupName) + "/" + instance
	rec, err := tx.Get(kindInstanceRevision, key)
	if isNotFound(err) {
		rec = &store.Record{Kind: kindInstanceRevision, Key: key}
	} else if err != nil {
		return err
	}
	return putJSON(tx, rec, instanceRevision{Revision: revisionIdentity(d.FullRevision), DeploymentID: d.DeploymentID})
}

// InstanceHasRevision reports whether the instance's last successful
// deployment in the group installed rev (updateOutdatedInstancesOnly).
func (s *Service) InstanceHasRevision(ctx context.Context, app, group, instance string, rev *RevisionLocation) (bool, error) {
	if rev == nil {
		return false, nil
	}
	var has bool
	err := s.st.View(ctx, func(tx store.Tx) error {
		r, _, err := store.GetJSON[instanceRevision](tx, kindInstanceRevision, groupKey(app, group)+"/"+instance)
		if isNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		has = r.Revision == revisionIdentity(rev)
		return nil
	})
	return has, err
}

func instanceEvent(status string) string {
	switch status {
	case EventInProgress:
		return EventInstanceStart
	case EventSucceeded:
		return EventInstanceSuccess
	case EventFailed:
		return EventInstanceFailure
	case TargetReady:
		return EventInstanceReady
	}
	return ""
}

// instanceMessage is the JSON body of an instance trigger notification,
// with AWS's member names; times are epoch strings as in deployment
// notifications.
type instanceMessage struct {
	Region           string                `json:"region"`
	AccountID        string                `json:"accountId"`
	EventTriggerName string                `json:"eventTriggerName"`
	DeploymentID     string                `json:"deploymentId"`
	InstanceID       string                `json:"instanceId"`
	LastUpdatedAt    string                `json:"lastUpdatedAt"`
	InstanceStatus   string                `json:"instanceStatus"`
	LifecycleEvents  []instanceMessageStep `json:"lifecycleEvents"`
}

type instanceMessageStep struct {
	LifecycleEvent       string `json:"LifecycleEvent"`
	LifecycleEventStatus string `json:"LifecycleEventStatus"`
	StartTime            string `json:"StartTime,omitempty"`
	EndTime              string `json:"EndTime,omitempty"`
}

func (s *Service) queueInstanceTriggers(tx store.Tx, g *DeploymentGroup, in *ServerInstance, event string) (int, error) {
	n := 0
	for _, tc := range g.TriggerConfigurations {
		if !slices.Contains(tc.TriggerEvents, event) {
			continue
		}
		t := in.Target
		m := instanceMessage{
			Region: s.region, AccountID: s.account, EventTriggerName: str(tc.TriggerName),
			DeploymentID: t.DeploymentID, InstanceID: t.TargetArn, LastUpdatedAt: epochString(t.LastUpdatedAt.Time),
			InstanceStatus: t.Status, LifecycleEvents: []instanceMessageStep{},
		}
		for _, ev := range t.LifecycleEvents {
			st := instanceMessageStep{LifecycleEvent: ev.LifecycleEventName, LifecycleEventStatus: ev.Status}
			if ev.StartTime != nil {
				st.StartTime = epochString(ev.StartTime.Time)
			}
			if ev.EndTime != nil {
				st.EndTime = epochString(ev.EndTime.Time)
			}
			m.LifecycleEvents = append(m.LifecycleEvents, st)
		}
		body, err := json.Marshal(m)
		if err != nil {
			return n, fmt.Errorf("encoding trigger %s: %w", str(tc.TriggerName), err)
		}
		note := triggers.Notification{
			Target: str(tc.TriggerTargetArn), Trigger: str(tc.TriggerName), Ref: t.DeploymentID + "/" + t.TargetID, Event: event,
			Subject: fmt.Sprintf("%s: AWS CodeDeploy %s in %s to %s, instance %s", instanceSubjectWord[event], t.DeploymentID, s.region, g.ApplicationName, t.TargetID),
			Message: string(body),
		}
		if err := triggers.Enqueue(tx, note); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

var instanceSubjectWord = map[string]string{
	EventInstanceStart:   "INSTANCE STARTED",
	EventInstanceSuccess: "INSTANCE SUCCEEDED",
	EventInstanceFailure: "INSTANCE FAILED",
	EventInstanceReady:   "INSTANCE READY",
}

// The target and instance operations for Server deployments. The ECS
// branches in deployment_ops.go hand over here for the Server platform.

func (s *Service) serverStarted(ctx context.Context, id string) (*Deployment, error) {
	d, err := s.Deployment(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.StartTime == nil && d.Status == StatusCreated {
		return nil, awsproto.Errorf("DeploymentNotStartedException", "The deployment %s has not started.", id)
	}
	return d, nil
}

// serverTargetIDs lists a deployment's instance names matching the
// filters, sorted by name.
func (s *Service) serverTargetIDs(ctx context.Context, id string, statuses, labels []string) ([]string, error) {
	all, err := s.ServerInstances(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, in := range all {
		if len(statuses) > 0 && !slices.Contains(statuses, in.Target.Status) {
			continue
		}
		if len(labels) > 0 && !slices.Contains(labels, in.Target.InstanceLabel) {
			continue
		}
		out = append(out, in.InstanceName)
	}
	return out, nil
}

// pageIDs pages names by the last one returned, so a page is stable while
// instances change status.
func (s *Service) pageIDs(scope string, ids []string, next *string) ([]string, string, error) {
	tok, err := decodeToken(scope, next)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if tok.After != "" {
		start, _ = slices.BinarySearch(ids, tok.After)
		if start < len(ids) && ids[start] == tok.After {
			start++
		}
	}
	page := ids[start:]
	nextTok := ""
	if len(page) > s.pageSize {
		page = page[:s.pageSize]
		nextTok = encodeToken(scope, pageToken{After: page[len(page)-1]})
	}
	return page, nextTok, nil
}

func (s *Service) listServerTargets(ctx context.Context, d *Deployment, in *listDeploymentTargetsInput) (*listDeploymentTargetsOutput, error) {
	labels := in.TargetFilters["ServerInstanceLabel"]
	if err := checkInstanceLabels(labels); err != nil {
		return nil, err
	}
	if len(labels) > 0 && !isBlueGreen(d) {
		return nil, awsproto.Errorf("InvalidDeploymentInstanceTypeException", "Deployment %s is an in-place deployment: its instances have no Blue or Green label to filter on.", d.DeploymentID)
	}
	statuses := in.TargetFilters["TargetStatus"]
	ids, err := s.serverTargetIDs(ctx, d.DeploymentID, statuses, labels)
	if err != nil {
		return nil, err
	}
	scope := fmt.Sprintf("targets/%s/%s/%s", d.DeploymentID, strings.Join(statuses, ","), strings.Join(labels, ","))
	page, next, err := s.pageIDs(scope, ids, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &listDeploymentTargetsOutput{TargetIDs: page, NextToken: next}, nil
}

// Instance labels of a blue/green Server deployment: the original fleet
// and its replacement.
const (
	LabelBlue  = "Blue"
	LabelGreen = "Green"
)

func checkInstanceLabels(labels []string) error {
	for _, l := range labels {
		if l != LabelBlue && l != LabelGreen {
			return awsproto.Errorf("InvalidInstanceTypeException", "Instance label %q is invalid: it must be Blue or Green.", l)
		}
	}
	return nil
}

func isBlueGreen(d *Deployment) bool {
	return d.DeploymentStyle != nil && str(d.DeploymentStyle.DeploymentType) == "BLUE_GREEN"
}

// serverInstancesNamed reads the named instances of a deployment; missing
// ones are left out and returned in missing.
func (s *Service) serverInstancesNamed(ctx context.Context, id string, names []string) (found []*ServerInstance, missing []string, err error) {
	err = s.st.View(ctx, func(tx store.Tx) error {
		found, missing = nil, nil
		for _, n := range names {
			in, _, err := store.GetJSON[ServerInstance](tx, kindInstanceTarget, instanceTargetKey(id, n))
			if isNotFound(err) {
				missing = append(missing, n)
				continue
			} else if err != nil {
				return err
			}
			found = append(found, in)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading instances of %s: %w", id, err)
	}
	return found, missing, nil
}

func instanceTargetOut(in *ServerInstance) DeploymentTarget {
	t := in.Target
	if t.LifecycleEvents == nil {
		t.LifecycleEvents = []LifecycleEvent{}
	}
	return DeploymentTarget{DeploymentTargetType: "InstanceTarget", InstanceTarget: &t}
}

func (s *Service) batchGetServerTargets(ctx context.Context, d *Deployment, ids []string) (*batchGetDeploymentTargetsOutput, error) {
	found, missing, err := s.serverInstancesNamed(ctx, d.DeploymentID, ids)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, awsproto.Errorf("DeploymentTargetDoesNotExistException", "The targets %s are not part of deployment %s.", strings.Join(missing, ", "), d.DeploymentID)
	}
	out := &batchGetDeploymentTargetsOutput{DeploymentTargets: []DeploymentTarget{}}
	for _, in := range found {
		out.DeploymentTargets = append(out.DeploymentTargets, instanceTargetOut(in))
	}
	return out, nil
}

// InstanceSummary is an instance of a deployment as the legacy instance
// operations report it.
type InstanceSummary struct {
	DeploymentID    string           `json:"deploymentId"`
	InstanceID      string           `json:"instanceId"`
	Status          string           `json:"status"`
	LastUpdatedAt   awsproto.Time    `json:"lastUpdatedAt"`
	LifecycleEvents []LifecycleEvent `json:"lifecycleEvents"`
	InstanceType    string           `json:"instanceType,omitempty"`
}

// instanceSummary: the legacy operations name an instance by its ARN, as
// AWS does for on-premises instances.
func instanceSummary(in *ServerInstance) InstanceSummary {
	t := in.Target
	ev := t.LifecycleEvents
	if ev == nil {
		ev = []LifecycleEvent{}
	}
	return InstanceSummary{DeploymentID: t.DeploymentID, InstanceID: t.TargetArn, Status: t.Status, LastUpdatedAt: t.LastUpdatedAt,
		LifecycleEvents: ev, InstanceType: t.InstanceLabel}
}

// legacyInstanceName accepts an instance by name or by its instance ARN.
func legacyInstanceName(v string) string {
	if i := strings.LastIndex(v, ":instance/"); i >= 0 && strings.HasPrefix(v, "arn:") {
		return v[i+len(":instance/"):]
	}
	return v
}

type listDeploymentInstancesOutput struct {
	InstancesList []string `json:"instancesList"`
	NextToken     string   `json:"nextToken,omitempty"`
}

func (s *Service) listServerInstances(ctx context.Context, d *Deployment, in *listDeploymentInstancesInput) (*listDeploymentInstancesOutput, error) {
	if err := checkInstanceLabels(in.InstanceTypeFilter); err != nil {
		return nil, err
	}
	if len(in.InstanceTypeFilter) > 0 && !isBlueGreen(d) {
		return nil, awsproto.Errorf("InvalidDeploymentInstanceTypeException", "Deployment %s is an in-place deployment: its instances have no Blue or Green type to filter on.", d.DeploymentID)
	}
	all, err := s.ServerInstances(ctx, d.DeploymentID)
	if err != nil {
		return nil, err
	}
	// Page by instance name; the list shows each instance's ARN.
	var names []string
	arns := map[string]string{}
	for _, x := range all {
		if len(in.InstanceStatusFilter) > 0 && !slices.Contains(in.InstanceStatusFilter, x.Target.Status) {
			continue
		}
		if len(in.InstanceTypeFilter) > 0 && !slices.Contains(in.InstanceTypeFilter, x.Target.InstanceLabel) {
			continue
		}
		names = append(names, x.InstanceName)
		arns[x.InstanceName] = x.Target.TargetArn
	}
	scope := fmt.Sprintf("instances/%s/%s/%s", d.DeploymentID, strings.Join(in.InstanceStatusFilter, ","), strings.Join(in.InstanceTypeFilter, ","))
	page, next, err := s.pageIDs(scope, names, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &listDeploymentInstancesOutput{InstancesList: []string{}, NextToken: next}
	for _, n := range page {
		out.InstancesList = append(out.InstancesList, arns[n])
	}
	return out, nil
}

type getDeploymentInstanceOutput struct {
	InstanceSummary InstanceSummary `json:"instanceSummary"`
}

func (s *Service) getServerInstance(ctx context.Context, d *Deployment, instance string) (*getDeploymentInstanceOutput, error) {
	name := legacyInstanceName(instance)
	found, _, err := s.serverInstancesNamed(ctx, d.DeploymentID, []string{name})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, awsproto.Errorf("InstanceDoesNotExistException", "The instance %s is not part of deployment %s.", instance, d.DeploymentID)
	}
	return &getDeploymentInstanceOutput{InstanceSummary: instanceSummary(found[0])}, nil
}

type batchGetDeploymentInstancesOutput struct {
	InstancesSummary []InstanceSummary `json:"instancesSummary"`
	ErrorMessage     string            `json:"errorMessage,omitempty"`
}

// batchGetServerInstances answers the instances it finds; unknown ones are
// named in errorMessage, as AWS does, rather than failing the call.
func (s *Service) batchGetServerInstances(ctx context.Context, d *Deployment, ids []string) (*batchGetDeploymentInstancesOutput, error) {
	names := make([]string, len(ids))
	for i, v := range ids {
		names[i] = legacyInstanceName(v)
	}
	found, missing, err := s.serverInstancesNamed(ctx, d.DeploymentID, names)
	if err != nil {
		return nil, err
	}
	out := &batchGetDeploymentInstancesOutput{InstancesSummary: []InstanceSummary{}}
	for _, in := range found {
		out.InstancesSummary = append(out.InstancesSummary, instanceSummary(in))
	}
	if len(missing) > 0 {
		out.ErrorMessage = fmt.Sprintf("Instances not found in deployment %s: %s", d.DeploymentID, strings.Join(missing, ", "))
	}
	return out, nil
}
