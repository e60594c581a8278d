package deploywatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/smithy-go"
)

// API is the part of the CodeDeploy client the watcher polls with; the SDK
// client satisfies it.
type API interface {
	GetDeployment(ctx context.Context, in *codedeploy.GetDeploymentInput, opts ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
	ListDeploymentTargets(ctx context.Context, in *codedeploy.ListDeploymentTargetsInput, opts ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error)
	BatchGetDeploymentTargets(ctx context.Context, in *codedeploy.BatchGetDeploymentTargetsInput, opts ...func(*codedeploy.Options)) (*codedeploy.BatchGetDeploymentTargetsOutput, error)
}

// batchTargetsMax is BatchGetDeploymentTargets' limit on ids per call.
const batchTargetsMax = 25

// Watcher follows deployments and writes their changes to Out.
type Watcher struct {
	Client API
	Out    io.Writer
	// Interval between polls; default 1s.
	Interval time.Duration
	// FollowRollback: when the deployment fails and CodeDeploy starts a
	// rollback deployment, follow that one to its end too.
	FollowRollback bool
	// Now stamps the lines; default time.Now.
	Now func() time.Time
	// OnChange, if set, runs after each poll that printed something and
	// returns extra lines to print (the demo samples the production
	// listener's answers when the traffic split moves).
	OnChange func(ctx context.Context, prev, cur State) []string
}

// Result is how a watched deployment ended.
type Result struct {
	Final State
	// Rollback is the rollback deployment's final state, when one was made
	// and followed.
	Rollback *State
}

// Succeeded reports whether the watched deployment itself succeeded (a
// successful rollback still means the deployment failed).
func (r Result) Succeeded() bool {
	return r.Final.Status == string(types.DeploymentStatusSucceeded)
}

// Watch polls deployment id until it ends or ctx is done, printing each
// change. It returns ctx's error if ctx ended first.
func (w *Watcher) Watch(ctx context.Context, id string) (Result, error) {
	final, err := w.follow(ctx, id, "")
	res := Result{Final: final}
	if err != nil {
		return res, err
	}
	if final.RollbackID != "" && w.FollowRollback {
		w.printf("following rollback deployment %s", final.RollbackID)
		rb, err := w.follow(ctx, final.RollbackID, "rollback ")
		res.Rollback = &rb
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// follow watches one deployment; prefix marks the lines of a rollback.
func (w *Watcher) follow(ctx context.Context, id, prefix string) (State, error) {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Second
	}
	var prev State
	var targetIDs []string
	start := w.now()
	for {
		d, err := w.Client.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
		if err != nil {
			return prev, fmt.Errorf("reading deployment %s: %w", id, err)
		}
		// Targets exist once the deployment starts; until then the
		// deployment alone is all there is to show.
		if len(targetIDs) == 0 {
			if targetIDs, err = w.listTargets(ctx, id); err != nil {
				return prev, err
			}
		}
		var targets []types.DeploymentTarget
		for i := 0; i < len(targetIDs); i += batchTargetsMax {
			out, err := w.Client.BatchGetDeploymentTargets(ctx, &codedeploy.BatchGetDeploymentTargetsInput{
				DeploymentId: aws.String(id), TargetIds: targetIDs[i:min(i+batchTargetsMax, len(targetIDs))]})
			if err != nil {
				return prev, fmt.Errorf("reading the targets of %s: %w", id, err)
			}
			targets = append(targets, out.DeploymentTargets...)
		}
		cur := FromAPI(d.DeploymentInfo, targets)
		lines := Changes(prev, cur)
		for _, l := range lines {
			w.printf("%s%s", prefix, l)
		}
		if len(lines) > 0 && w.OnChange != nil {
			for _, l := range w.OnChange(ctx, prev, cur) {
				w.printf("%s%s", prefix, l)
			}
		}
		seenRunning := prev.Status != ""
		prev = cur
		if Terminal(cur.Status) {
			// Wall time as watched: the deployment's own times come from
			// the server's clock, which --time-scale may run fast.
			took := ""
			if seenRunning {
				took = fmt.Sprintf(" (followed for %s)", w.now().Sub(start).Round(time.Second))
			}
			w.printf("%sdeployment %s %s%s", prefix, id, cur.Status, took)
			return cur, nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return prev, ctx.Err()
		case <-t.C:
		}
	}
}

func (w *Watcher) listTargets(ctx context.Context, id string) ([]string, error) {
	var ids []string
	in := &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)}
	for {
		page, err := w.Client.ListDeploymentTargets(ctx, in)
		if err != nil {
			// A deployment that has not started has no targets yet; the
			// next poll asks again.
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorCode() == "DeploymentNotStartedException" {
				return nil, nil
			}
			return nil, fmt.Errorf("listing the targets of %s: %w", id, err)
		}
		ids = append(ids, page.TargetIds...)
		if aws.ToString(page.NextToken) == "" {
			return ids, nil
		}
		in.NextToken = page.NextToken
	}
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Watcher) printf(format string, args ...any) {
	fmt.Fprintf(w.Out, "%s  %s\n", w.now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
