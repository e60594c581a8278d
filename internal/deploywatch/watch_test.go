package deploywatch

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/smithy-go"
)

func events(statuses ...string) []Event {
	names := []string{"BeforeInstall", "Install", "AllowTraffic"}
	var out []Event
	for i, s := range statuses {
		out = append(out, Event{Name: names[i], Status: s})
	}
	return out
}

func sets(blueW, greenW float64, greenRunning int64) []TaskSet {
	out := []TaskSet{{ID: "ecs-svc/1", Label: "Blue", Status: "PRIMARY", Weight: blueW, Desired: 2, Running: 2}}
	if greenRunning >= 0 {
		out = append(out, TaskSet{ID: "ecs-svc/2", Label: "Green", Status: "ACTIVE", Weight: greenW, Desired: 2, Pending: 2 - greenRunning, Running: greenRunning})
	}
	return out
}

// TestChanges feeds sequences of snapshots, as successive polls would see
// them, and checks the lines each poll prints.
func TestChanges(t *testing.T) {
	tests := []struct {
		name  string
		polls []State
		want  [][]string // lines per poll
	}{
		{
			name: "created, then nothing new",
			polls: []State{
				{ID: "d-1", Status: "Created"},
				{ID: "d-1", Status: "Created"},
			},
			want: [][]string{{"status Created"}, nil},
		},
		{
			name: "events start and finish; pending is not reported",
			polls: []State{
				{Status: "InProgress", Events: events("Pending", "Pending", "Pending"), TaskSets: sets(100, 0, -1)},
				{Status: "InProgress", Events: events("Succeeded", "InProgress", "Pending"), TaskSets: sets(100, 0, 0)},
				{Status: "InProgress", Events: events("Succeeded", "InProgress", "Pending"), TaskSets: sets(100, 0, 1)},
				{Status: "InProgress", Events: events("Succeeded", "Succeeded", "InProgress"), TaskSets: sets(100, 0, 2)},
			},
			want: [][]string{
				{"status InProgress", "task set Blue  ecs-svc/1: 2 desired, 0 pending, 2 running (PRIMARY)", "traffic  Blue 100%"},
				{"BeforeInstall          Succeeded", "Install                InProgress", "task set Green ecs-svc/2: 2 desired, 2 pending, 0 running (ACTIVE)", "traffic  Blue 100% | Green 0%"},
				{"task set Green ecs-svc/2: 2 desired, 1 pending, 1 running (ACTIVE)"},
				{"Install                Succeeded", "AllowTraffic           InProgress", "task set Green ecs-svc/2: 2 desired, 0 pending, 2 running (ACTIVE)"},
			},
		},
		{
			name: "canary shift and success",
			polls: []State{
				{Status: "InProgress", TaskSets: sets(100, 0, 2)},
				{Status: "InProgress", TaskSets: sets(80, 20, 2)},
				{Status: "InProgress", TaskSets: sets(80, 20, 2)},
				{Status: "Succeeded", TaskSets: sets(0, 100, 2)},
			},
			want: [][]string{
				{"status InProgress", "task set Blue  ecs-svc/1: 2 desired, 0 pending, 2 running (PRIMARY)", "task set Green ecs-svc/2: 2 desired, 0 pending, 2 running (ACTIVE)", "traffic  Blue 100% | Green 0%"},
				{"traffic  Blue 80% | Green 20%"},
				nil,
				{"traffic  Blue 0% | Green 100%", "status Succeeded"},
			},
		},
		{
			name: "deleted task set leaves the split",
			polls: []State{
				{Status: "InProgress", TaskSets: sets(0, 100, 2)},
				{Status: "InProgress", TaskSets: []TaskSet{{ID: "ecs-svc/1", Label: "Blue", Status: "DELETED", Desired: 2, Running: 2}, sets(0, 100, 2)[1]}},
			},
			want: [][]string{
				{"status InProgress", "task set Blue  ecs-svc/1: 2 desired, 0 pending, 2 running (PRIMARY)", "task set Green ecs-svc/2: 2 desired, 0 pending, 2 running (ACTIVE)", "traffic  Blue 0% | Green 100%"},
				{"task set Blue  ecs-svc/1: 2 desired, 0 pending, 2 running (DELETED)", "traffic  Green 100%"},
			},
		},
		{
			name: "failure with diagnostics, error and rollback",
			polls: []State{
				{Status: "InProgress", Events: events("InProgress")},
				{Status: "Failed", Events: []Event{{Name: "BeforeInstall", Status: "Failed", Diag: "The hook reported that it failed."}},
					ErrorCode: "HOOK_EXECUTION_FAILURE", ErrorMsg: "The BeforeInstall hook failed.", RollbackID: "d-2"},
			},
			want: [][]string{
				{"status InProgress", "BeforeInstall          InProgress"},
				{"BeforeInstall          Failed: The hook reported that it failed.",
					"status Failed — HOOK_EXECUTION_FAILURE: The BeforeInstall hook failed.",
					"rolled back by deployment d-2"},
			},
		},
		{
			name: "fractional weights",
			polls: []State{
				{Status: "InProgress", TaskSets: []TaskSet{{ID: "a", Label: "Blue", Weight: 66.7}, {ID: "b", Label: "Green", Weight: 33.3}}},
			},
			want: [][]string{{"status InProgress", "task set Blue  a: 0 desired, 0 pending, 0 running", "task set Green b: 0 desired, 0 pending, 0 running", "traffic  Blue 66.7% | Green 33.3%"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev State
			for i, cur := range tt.polls {
				got := Changes(prev, cur)
				if !slices.Equal(got, tt.want[i]) {
					t.Errorf("poll %d:\n got %q\nwant %q", i, got, tt.want[i])
				}
				prev = cur
			}
		})
	}
}

func TestFromAPI(t *testing.T) {
	d := &types.DeploymentInfo{
		DeploymentId: aws.String("d-ABCDEFGHI"), ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("grp"),
		Status:           types.DeploymentStatusFailed,
		ErrorInformation: &types.ErrorInformation{Code: types.ErrorCodeHookExecutionFailure, Message: aws.String("boom")},
		RollbackInfo:     &types.RollbackInfo{RollbackDeploymentId: aws.String("d-ROLLBACK1")},
	}
	targets := []types.DeploymentTarget{{EcsTarget: &types.ECSTarget{
		LifecycleEvents: []types.LifecycleEvent{
			{LifecycleEventName: aws.String("Install"), Status: types.LifecycleEventStatusFailed, Diagnostics: &types.Diagnostics{ErrorCode: types.LifecycleErrorCodeUnknownError}},
		},
		TaskSetsInfo: []types.ECSTaskSet{{Identifer: aws.String("ecs-svc/9"), TaskSetLabel: types.TargetLabelGreen, TrafficWeight: 20, DesiredCount: 2, RunningCount: 1, PendingCount: 1, Status: aws.String("ACTIVE")}},
	}}}
	got := FromAPI(d, targets)
	want := State{ID: "d-ABCDEFGHI", Application: "app", Group: "grp", Status: "Failed", ErrorCode: "HOOK_EXECUTION_FAILURE", ErrorMsg: "boom", RollbackID: "d-ROLLBACK1",
		Events:   []Event{{Name: "Install", Status: "Failed", Diag: "UnknownError"}},
		TaskSets: []TaskSet{{ID: "ecs-svc/9", Label: "Green", Status: "ACTIVE", Weight: 20, Desired: 2, Pending: 1, Running: 1}}}
	if got.ID != want.ID || got.Status != want.Status || got.ErrorCode != want.ErrorCode || got.RollbackID != want.RollbackID ||
		!slices.Equal(got.Events, want.Events) || !slices.Equal(got.TaskSets, want.TaskSets) || got.Application != want.Application {
		t.Errorf("FromAPI:\n got %+v\nwant %+v", got, want)
	}
}

// fakeAPI answers each GetDeployment with the next snapshot of that
// deployment (repeating the last), as a server advancing would.
type fakeAPI struct {
	polls map[string][]*types.DeploymentInfo
	// targets per deployment, same index as polls; nil means "no targets yet".
	targets map[string][][]types.DeploymentTarget
	seen    map[string]int
	// onPoll runs before each GetDeployment answer (to cancel mid-watch).
	onPoll func(id string, n int)
}

func (f *fakeAPI) idx(id string) int {
	return min(f.seen[id], len(f.polls[id])-1)
}

func (f *fakeAPI) GetDeployment(ctx context.Context, in *codedeploy.GetDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error) {
	id := aws.ToString(in.DeploymentId)
	if f.seen == nil {
		f.seen = map[string]int{}
	}
	if _, ok := f.polls[id]; !ok {
		return nil, errors.New("DeploymentDoesNotExistException")
	}
	f.seen[id]++
	if f.onPoll != nil {
		f.onPoll(id, f.seen[id])
	}
	return &codedeploy.GetDeploymentOutput{DeploymentInfo: f.polls[id][min(f.seen[id]-1, len(f.polls[id])-1)]}, nil
}

func (f *fakeAPI) cur(id string) []types.DeploymentTarget {
	ts := f.targets[id]
	i := min(f.seen[id]-1, len(ts)-1)
	if i < 0 {
		return nil
	}
	return ts[i]
}

func (f *fakeAPI) ListDeploymentTargets(ctx context.Context, in *codedeploy.ListDeploymentTargetsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error) {
	var ids []string
	cur := f.cur(aws.ToString(in.DeploymentId))
	if cur == nil {
		// As the server answers before a deployment starts.
		return nil, &smithy.GenericAPIError{Code: "DeploymentNotStartedException", Message: "not started"}
	}
	for _, t := range cur {
		ids = append(ids, aws.ToString(t.EcsTarget.TargetId))
	}
	return &codedeploy.ListDeploymentTargetsOutput{TargetIds: ids}, nil
}

func (f *fakeAPI) BatchGetDeploymentTargets(ctx context.Context, in *codedeploy.BatchGetDeploymentTargetsInput, _ ...func(*codedeploy.Options)) (*codedeploy.BatchGetDeploymentTargetsOutput, error) {
	return &codedeploy.BatchGetDeploymentTargetsOutput{DeploymentTargets: f.cur(aws.ToString(in.DeploymentId))}, nil
}

func dep(id string, st types.DeploymentStatus, rollback string) *types.DeploymentInfo {
	d := &types.DeploymentInfo{DeploymentId: aws.String(id), Status: st}
	if rollback != "" {
		d.RollbackInfo = &types.RollbackInfo{RollbackDeploymentId: aws.String(rollback)}
		d.ErrorInformation = &types.ErrorInformation{Code: types.ErrorCodeHookExecutionFailure, Message: aws.String("hook failed")}
	}
	return d
}

func ecsTarget(weight float64) []types.DeploymentTarget {
	return []types.DeploymentTarget{{EcsTarget: &types.ECSTarget{TargetId: aws.String("c:s"), TaskSetsInfo: []types.ECSTaskSet{
		{Identifer: aws.String("ts-1"), TaskSetLabel: types.TargetLabelBlue, TrafficWeight: 100 - weight},
		{Identifer: aws.String("ts-2"), TaskSetLabel: types.TargetLabelGreen, TrafficWeight: weight},
	}}}}
}

func TestWatch(t *testing.T) {
	clock := time.Date(2025, 1, 2, 15, 4, 5, 0, time.Local)
	tests := []struct {
		name           string
		api            *fakeAPI
		followRollback bool
		cancelAt       int // cancel the context at this GetDeployment of d-1 (0: never)
		wantSucceeded  bool
		wantErr        error
		wantLines      []string
		wantRollback   string // final status of the followed rollback
	}{
		{
			name: "succeeds with a canary shift",
			api: &fakeAPI{
				polls: map[string][]*types.DeploymentInfo{"d-1": {
					dep("d-1", types.DeploymentStatusCreated, ""),
					dep("d-1", types.DeploymentStatusInProgress, ""),
					dep("d-1", types.DeploymentStatusInProgress, ""),
					dep("d-1", types.DeploymentStatusSucceeded, ""),
				}},
				targets: map[string][][]types.DeploymentTarget{"d-1": {nil, ecsTarget(0), ecsTarget(20), ecsTarget(100)}},
			},
			wantSucceeded: true,
			wantLines: []string{
				"15:04:05  status Created",
				"15:04:05  status InProgress",
				"15:04:05  task set Blue  ts-1: 0 desired, 0 pending, 0 running",
				"15:04:05  task set Green ts-2: 0 desired, 0 pending, 0 running",
				"15:04:05  traffic  Blue 100% | Green 0%",
				"15:04:05  sample 20",
				"15:04:05  traffic  Blue 80% | Green 20%",
				"15:04:05  sample 20",
				"15:04:05  traffic  Blue 0% | Green 100%",
				"15:04:05  status Succeeded",
				"15:04:05  sample 20",
				"15:04:05  deployment d-1 Succeeded (followed for 0s)",
			},
		},
		{
			name: "failed, rollback followed",
			api: &fakeAPI{
				polls: map[string][]*types.DeploymentInfo{
					"d-1": {dep("d-1", types.DeploymentStatusInProgress, ""), dep("d-1", types.DeploymentStatusFailed, "d-2")},
					"d-2": {dep("d-2", types.DeploymentStatusInProgress, ""), dep("d-2", types.DeploymentStatusSucceeded, "")},
				},
			},
			followRollback: true,
			wantLines: []string{
				"15:04:05  status InProgress",
				"15:04:05  status Failed — HOOK_EXECUTION_FAILURE: hook failed",
				"15:04:05  rolled back by deployment d-2",
				"15:04:05  deployment d-1 Failed (followed for 0s)",
				"15:04:05  following rollback deployment d-2",
				"15:04:05  rollback status InProgress",
				"15:04:05  rollback status Succeeded",
				"15:04:05  rollback deployment d-2 Succeeded (followed for 0s)",
			},
			wantRollback: "Succeeded",
		},
		{
			name: "failed, rollback not followed",
			api: &fakeAPI{
				polls: map[string][]*types.DeploymentInfo{
					"d-1": {dep("d-1", types.DeploymentStatusFailed, "d-2")},
				},
			},
			wantLines: []string{
				"15:04:05  status Failed — HOOK_EXECUTION_FAILURE: hook failed",
				"15:04:05  rolled back by deployment d-2",
				"15:04:05  deployment d-1 Failed",
			},
		},
		{
			name: "interrupted while following",
			api: &fakeAPI{
				polls: map[string][]*types.DeploymentInfo{"d-1": {dep("d-1", types.DeploymentStatusInProgress, "")}},
			},
			cancelAt:  3,
			wantErr:   context.Canceled,
			wantLines: []string{"15:04:05  status InProgress"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelAt > 0 {
				tt.api.onPoll = func(id string, n int) {
					if n == tt.cancelAt {
						cancel()
					}
				}
			}
			var out bytes.Buffer
			w := &Watcher{Client: tt.api, Out: &out, Interval: time.Millisecond, FollowRollback: tt.followRollback,
				Now: func() time.Time { return clock },
				OnChange: func(ctx context.Context, prev, cur State) []string {
					if Split(cur.TaskSets) != Split(prev.TaskSets) && len(cur.TaskSets) > 1 {
						return []string{"sample 20"}
					}
					return nil
				}}
			res, err := w.Watch(ctx, "d-1")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Watch error %v, want %v", err, tt.wantErr)
			}
			if res.Succeeded() != tt.wantSucceeded {
				t.Errorf("Succeeded() = %v, want %v (final %+v)", res.Succeeded(), tt.wantSucceeded, res.Final)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if !slices.Equal(lines, tt.wantLines) {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), strings.Join(tt.wantLines, "\n"))
			}
			gotRB := ""
			if res.Rollback != nil {
				gotRB = res.Rollback.Status
			}
			if gotRB != tt.wantRollback {
				t.Errorf("rollback status %q, want %q", gotRB, tt.wantRollback)
			}
		})
	}
}
