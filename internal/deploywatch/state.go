// Package deploywatch follows a CodeDeploy deployment from the outside, as
// any API client would: it polls GetDeployment and the deployment's
// targets, and prints one timestamped line per change (a lifecycle event
// starting or ending, the traffic split moving, task counts changing, the
// status, the error), never the same screen twice. `cutover deploy --wait`,
// `cutover deploy watch` and `cutover server --demo` all use it, so what a
// newcomer sees in the demo is exactly what the command shows.
package deploywatch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

// State is the part of a deployment the watcher reports on, flattened out of
// the SDK's shapes so that two polls compare with ==-like checks and tests
// can write snapshots as literals.
type State struct {
	ID          string
	Application string
	Group       string
	Status      string
	ErrorCode   string
	ErrorMsg    string
	// RollbackID is the rollback deployment that undoes this one, if any.
	RollbackID string
	Events     []Event
	TaskSets   []TaskSet
}

// Event is one lifecycle event of a target.
type Event struct {
	Name   string
	Status string
	// Diag is the diagnostics message of a failed event.
	Diag string
}

// TaskSet is one ECS task set of the deployment (Blue or Green).
type TaskSet struct {
	ID     string
	Label  string
	Status string
	Weight float64
	// Desired, Pending and Running are ECS's task counts.
	Desired, Pending, Running int64
}

// Terminal reports whether a deployment status is final.
func Terminal(status string) bool {
	switch types.DeploymentStatus(status) {
	case types.DeploymentStatusSucceeded, types.DeploymentStatusFailed, types.DeploymentStatusStopped:
		return true
	}
	return false
}

// FromAPI flattens a GetDeployment answer and the deployment's targets.
// Only ECS targets carry task sets; other targets contribute their events.
func FromAPI(d *types.DeploymentInfo, targets []types.DeploymentTarget) State {
	var s State
	if d != nil {
		s.ID = aws.ToString(d.DeploymentId)
		s.Application = aws.ToString(d.ApplicationName)
		s.Group = aws.ToString(d.DeploymentGroupName)
		s.Status = string(d.Status)
		if e := d.ErrorInformation; e != nil {
			s.ErrorCode, s.ErrorMsg = string(e.Code), aws.ToString(e.Message)
		}
		if r := d.RollbackInfo; r != nil {
			s.RollbackID = aws.ToString(r.RollbackDeploymentId)
		}
	}
	for _, t := range targets {
		var events []types.LifecycleEvent
		switch {
		case t.EcsTarget != nil:
			events = t.EcsTarget.LifecycleEvents
			for _, ts := range t.EcsTarget.TaskSetsInfo {
				s.TaskSets = append(s.TaskSets, TaskSet{
					ID: aws.ToString(ts.Identifer), Label: string(ts.TaskSetLabel), Status: aws.ToString(ts.Status),
					Weight: ts.TrafficWeight, Desired: ts.DesiredCount, Pending: ts.PendingCount, Running: ts.RunningCount,
				})
			}
		case t.LambdaTarget != nil:
			events = t.LambdaTarget.LifecycleEvents
		case t.InstanceTarget != nil:
			events = t.InstanceTarget.LifecycleEvents
		case t.CloudFormationTarget != nil:
			events = t.CloudFormationTarget.LifecycleEvents
		}
		for _, ev := range events {
			e := Event{Name: aws.ToString(ev.LifecycleEventName), Status: string(ev.Status)}
			if dg := ev.Diagnostics; dg != nil {
				e.Diag = aws.ToString(dg.Message)
				if e.Diag == "" {
					e.Diag = string(dg.ErrorCode)
				}
			}
			s.Events = append(s.Events, e)
		}
	}
	return s
}

// Changes describes, one line each, what differs from prev to cur, in the
// order a reader wants it: status first, then lifecycle events in plan
// order, task counts, the traffic split, and last the error and rollback of
// a deployment that ended. A zero prev is "nothing seen yet".
func Changes(prev, cur State) []string {
	var out []string
	if cur.Status != prev.Status && !Terminal(cur.Status) {
		out = append(out, "status "+cur.Status)
	}
	for _, ev := range cur.Events {
		old := findEvent(prev.Events, ev.Name)
		if ev.Status == old.Status && ev.Diag == old.Diag {
			continue
		}
		// Pending is where every event starts; saying so is noise.
		if ev.Status == string(types.LifecycleEventStatusPending) {
			continue
		}
		line := fmt.Sprintf("%-22s %s", ev.Name, ev.Status)
		if ev.Diag != "" {
			line += ": " + ev.Diag
		}
		out = append(out, line)
	}
	for _, ts := range cur.TaskSets {
		old, seen := findTaskSet(prev.TaskSets, ts.ID)
		if seen && old.Desired == ts.Desired && old.Pending == ts.Pending && old.Running == ts.Running && old.Status == ts.Status {
			continue
		}
		out = append(out, fmt.Sprintf("task set %-5s %s: %d desired, %d pending, %d running%s",
			ts.Label, ts.ID, ts.Desired, ts.Pending, ts.Running, bracket(ts.Status)))
	}
	if split := Split(cur.TaskSets); split != "" && split != Split(prev.TaskSets) {
		out = append(out, "traffic  "+split)
	}
	if Terminal(cur.Status) && cur.Status != prev.Status {
		line := "status " + cur.Status
		if cur.ErrorCode != "" || cur.ErrorMsg != "" {
			line += " — " + strings.TrimSpace(cur.ErrorCode+": "+cur.ErrorMsg)
		}
		out = append(out, line)
	}
	if cur.RollbackID != "" && cur.RollbackID != prev.RollbackID {
		out = append(out, "rolled back by deployment "+cur.RollbackID)
	}
	return out
}

// Split renders the production traffic split, e.g. "Blue 80% | Green 20%",
// or "" when no task set is known yet. Deleted task sets take no traffic
// and are left out.
func Split(sets []TaskSet) string {
	var parts []string
	for _, ts := range sets {
		if ts.Status == "DELETED" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s%%", ts.Label, trimFloat(ts.Weight)))
	}
	return strings.Join(parts, " | ")
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0")
}

func bracket(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func findEvent(evs []Event, name string) Event {
	if i := slices.IndexFunc(evs, func(e Event) bool { return e.Name == name }); i >= 0 {
		return evs[i]
	}
	return Event{}
}

func findTaskSet(sets []TaskSet, id string) (TaskSet, bool) {
	if i := slices.IndexFunc(sets, func(t TaskSet) bool { return t.ID == id }); i >= 0 {
		return sets[i], true
	}
	return TaskSet{}, false
}
