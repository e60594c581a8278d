package ecs

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/runtime"
	"github.com/cutover/cutover/internal/store"
)

var taskIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// taskIDOf resolves a task id or ARN (task/<cluster>/<id> or the old
// task/<id>); ok is false for anything that cannot name a task.
func (s *Service) taskIDOf(cluster, ref string) (string, bool) {
	if res, isARN, err := s.resourceOf(ref, "task"); err != nil {
		return "", false
	} else if isARN {
		rest, ok := strings.CutPrefix(res, "task/")
		if !ok {
			return "", false
		}
		if c, id, two := strings.Cut(rest, "/"); two {
			if c != cluster {
				return "", false
			}
			rest = id
		}
		ref = rest
	}
	return ref, taskIDRE.MatchString(ref)
}

func (s *Service) taskWire(t *taskRec, version int64, withTags bool) TaskWire {
	w := TaskWire{
		TaskArn: s.taskARN(t.Cluster, t.ID), ClusterArn: s.clusterARN(t.Cluster), TaskDefinitionArn: t.TaskDefinitionArn,
		Containers: t.Containers, Cpu: t.Cpu, Memory: t.Memory, LastStatus: t.LastStatus, DesiredStatus: t.DesiredStatus,
		HealthStatus: t.Health, Group: t.Group, StartedBy: t.StartedBy, LaunchType: t.LaunchType,
		PlatformVersion: t.PlatformVersion, CreatedAt: t.CreatedAt, StartedAt: t.StartedAt, StoppingAt: t.StoppingAt,
		StoppedAt: t.StoppedAt, StopCode: t.StopCode, StoppedReason: t.StoppedReason, Version: version,
		Overrides: map[string]any{"containerOverrides": []any{}, "inferenceAcceleratorOverrides": []any{}}, Attachments: []any{},
	}
	if w.HealthStatus == "" {
		w.HealthStatus = runtime.HealthUnknown
	}
	if w.Containers == nil {
		w.Containers = []ContainerWire{}
	}
	for i := range w.Containers {
		w.Containers[i].TaskArn = w.TaskArn
	}
	if withTags {
		w.Tags = t.Tags
	}
	return w
}

type listTasksInput struct {
	Cluster           *string `json:"cluster"`
	ContainerInstance *string `json:"containerInstance"`
	Family            *string `json:"family"`
	NextToken         *string `json:"nextToken"`
	MaxResults        *int32  `json:"maxResults"`
	StartedBy         *string `json:"startedBy"`
	ServiceName       *string `json:"serviceName"`
	DesiredStatus     *string `json:"desiredStatus"`
	LaunchType        *string `json:"launchType"`
	DaemonName        *string `json:"daemonName"`
}

type listTasksOutput struct {
	TaskArns  []string `json:"taskArns"`
	NextToken *string  `json:"nextToken,omitempty"`
}

func (s *Service) listTasks(ctx context.Context, in *listTasksInput) (*listTasksOutput, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	size, err := s.pageSizeOf(in.MaxResults)
	if err != nil {
		return nil, err
	}
	if err := checkLaunch(in.LaunchType, nil); err != nil {
		return nil, err
	}
	desired := deref(in.DesiredStatus)
	if desired == "" {
		desired = runtime.StatusRunning
	}
	if !slices.Contains([]string{"RUNNING", "PENDING", "STOPPED"}, desired) {
		return nil, invalid("Invalid desiredStatus: %s", clip(desired))
	}
	if in.ServiceName != nil && (in.Family != nil || in.StartedBy != nil) {
		return nil, invalid("serviceName cannot be specified with family or startedBy.")
	}
	var service string
	if in.ServiceName != nil {
		if service, err = s.serviceName(cluster, in.ServiceName); err != nil {
			return nil, err
		}
	}
	scope := awsproto.TokenScope("ecs:ListTasks:" + cluster + "\x00" + service + "\x00" + deref(in.Family) + "\x00" +
		deref(in.StartedBy) + "\x00" + desired + "\x00" + deref(in.LaunchType))
	after, err := scope.After(deref(in.NextToken))
	if err != nil {
		return nil, badToken()
	}
	var keys []string
	err = s.st.View(ctx, func(tx store.Tx) error {
		if service != "" {
			if _, _, err := loadService(tx, cluster, service); err != nil {
				return err
			}
		} else if _, _, err := loadCluster(tx, cluster); err != nil {
			return err
		}
		tasks, recs, err := list[taskRec](tx, kindTask, store.ListOptions{Index: cluster, After: after})
		for i, t := range tasks {
			// AWS lists a task under its desired status; PENDING is the
			// desired status of none of ours.
			if t.DesiredStatus != desired ||
				(service != "" && t.Service != service) ||
				(in.Family != nil && t.Family != *in.Family) ||
				(in.StartedBy != nil && t.StartedBy != *in.StartedBy) ||
				(in.LaunchType != nil && t.LaunchType != *in.LaunchType) {
				continue
			}
			keys = append(keys, recs[i].Key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	page, next := awsproto.PageKeys(scope, keys, size)
	out := &listTasksOutput{TaskArns: []string{}}
	for _, id := range page {
		out.TaskArns = append(out.TaskArns, s.taskARN(cluster, id))
	}
	if next != "" {
		out.NextToken = &next
	}
	return out, nil
}

type describeTasksInput struct {
	Cluster *string  `json:"cluster"`
	Tasks   []string `json:"tasks"`
	Include []string `json:"include"`
}

type describeTasksOutput struct {
	Tasks    []TaskWire `json:"tasks"`
	Failures []Failure  `json:"failures"`
}

func (s *Service) describeTasks(ctx context.Context, in *describeTasksInput) (*describeTasksOutput, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 {
		return nil, invalid("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, invalid("Tasks cannot have more than 100 elements")
	}
	for _, inc := range in.Include {
		if inc != "TAGS" {
			return nil, invalid("Invalid include value: %s", clip(inc))
		}
	}
	out := &describeTasksOutput{Tasks: []TaskWire{}, Failures: []Failure{}}
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadCluster(tx, cluster); err != nil {
			return err
		}
		for _, ref := range in.Tasks {
			id, ok := s.taskIDOf(cluster, ref)
			if !ok {
				out.Failures = append(out.Failures, Failure{Arn: ref, Reason: "MISSING"})
				continue
			}
			t, rec, err := get[taskRec](tx, kindTask, id)
			if isNotFound(err) || (err == nil && t.Cluster != cluster) {
				out.Failures = append(out.Failures, Failure{Arn: s.taskARN(cluster, id), Reason: "MISSING"})
				continue
			}
			if err != nil {
				return err
			}
			out.Tasks = append(out.Tasks, s.taskWire(t, rec.Version, slices.Contains(in.Include, "TAGS")))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type stopTaskInput struct {
	Cluster *string `json:"cluster"`
	Task    *string `json:"task"`
	Reason  *string `json:"reason"`
}

type stopTaskOutput struct {
	Task TaskWire `json:"task"`
}

// stopTask asks the scheduler to stop the task: it is deregistered from
// its target group, stopped once drained, and (for a service) replaced.
func (s *Service) stopTask(ctx context.Context, in *stopTaskInput) (*stopTaskOutput, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if deref(in.Task) == "" {
		return nil, invalid("Task cannot be empty.")
	}
	if len(deref(in.Reason)) > 1024 {
		return nil, invalid("The reason must be at most 1024 characters.")
	}
	id, ok := s.taskIDOf(cluster, *in.Task)
	if !ok {
		return nil, invalid("The referenced task was not found.")
	}
	var out TaskWire
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, _, err := loadCluster(tx, cluster); err != nil {
			return err
		}
		t, rec, err := get[taskRec](tx, kindTask, id)
		if isNotFound(err) || (err == nil && t.Cluster != cluster) {
			return invalid("The referenced task was not found.")
		}
		if err != nil {
			return err
		}
		if t.DesiredStatus != runtime.StatusStopped {
			t.DesiredStatus = runtime.StatusStopped
			t.StopCode = runtime.StopCodeUserInitiated
			t.StoppedReason = deref(in.Reason)
			if t.StoppedReason == "" {
				t.StoppedReason = runtime.ReasonUserInitiated
			}
			t.StoppingAt = ptr(s.nowTime())
			if err := put(tx, kindTask, id, cluster, rec.Version, t); err != nil {
				return err
			}
		}
		out = s.taskWire(t, rec.Version, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "task stop requested", "cluster", cluster, "task", id, "reason", deref(in.Reason))
	s.wake()
	return &stopTaskOutput{Task: out}, nil
}
