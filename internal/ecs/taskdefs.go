package ecs

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

func taskDefKey(family string, rev int32) string { return fmt.Sprintf("%s:%010d", family, rev) }

func clientErr(format string, args ...any) error {
	return awsproto.Errorf("ClientException", format, args...)
}

type registerTaskDefinitionInput struct {
	Family                  *string               `json:"family"`
	TaskRoleArn             *string               `json:"taskRoleArn"`
	ExecutionRoleArn        *string               `json:"executionRoleArn"`
	NetworkMode             *string               `json:"networkMode"`
	ContainerDefinitions    []ContainerDefinition `json:"containerDefinitions"`
	Volumes                 []any                 `json:"volumes"`
	PlacementConstraints    []any                 `json:"placementConstraints"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities"`
	Cpu                     *string               `json:"cpu"`
	Memory                  *string               `json:"memory"`
	Tags                    []Tag                 `json:"tags"`
	PidMode                 *string               `json:"pidMode"`
	IpcMode                 *string               `json:"ipcMode"`
	RuntimePlatform         any                   `json:"runtimePlatform"`
	EphemeralStorage        any                   `json:"ephemeralStorage"`
}

type taskDefinitionOutput struct {
	TaskDefinition *TaskDefinition `json:"taskDefinition"`
	Tags           []Tag           `json:"tags,omitempty"`
}

// validateTaskDefinition checks a registration the way ECS does and fills
// in ECS's defaults (essential, protocol, host ports, network mode) so
// what is stored is what DescribeTaskDefinition shows.
func validateTaskDefinition(in *registerTaskDefinitionInput) error {
	family := deref(in.Family)
	if family == "" {
		return clientErr("Family cannot be blank.")
	}
	if !nameRE.MatchString(family) {
		return clientErr("Family contains invalid characters: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	}
	if len(in.ContainerDefinitions) == 0 {
		return clientErr("Container list cannot be empty.")
	}
	if len(in.ContainerDefinitions) > 10 {
		return clientErr("Too many containers: a task definition can have at most 10.")
	}
	mode := deref(in.NetworkMode)
	switch mode {
	case "":
		in.NetworkMode = ptr("bridge")
		mode = "bridge"
	case "bridge", "host", "awsvpc", "none":
	default:
		return clientErr("Invalid networkMode: %s. Valid values are bridge, host, awsvpc and none.", clip(mode))
	}
	for _, c := range in.RequiresCompatibilities {
		if !slices.Contains([]string{"EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"}, c) {
			return clientErr("Invalid requiresCompatibilities value: %s", clip(c))
		}
	}
	if slices.Contains(in.RequiresCompatibilities, "FARGATE") {
		if mode != "awsvpc" {
			return clientErr("Fargate only supports network mode 'awsvpc'.")
		}
		if in.Cpu == nil {
			return clientErr("Fargate requires that 'cpu' be defined at the task level.")
		}
		if in.Memory == nil {
			return clientErr("Fargate requires that 'memory' be defined at the task level.")
		}
	}
	for _, v := range []*string{in.Cpu, in.Memory} {
		if v != nil && strings.TrimSpace(*v) == "" {
			return clientErr("Task level cpu and memory must not be empty.")
		}
	}
	if err := checkTags(in.Tags); err != nil {
		return clientErr("%s", awsproto.AsError(err).Message)
	}
	names := map[string]bool{}
	essential := false
	for i := range in.ContainerDefinitions {
		c := &in.ContainerDefinitions[i]
		name := deref(c.Name)
		if name == "" {
			return clientErr("Container.name should not be null or empty.")
		}
		if !nameRE.MatchString(name) {
			return clientErr("Container.name contains invalid characters.")
		}
		if names[name] {
			return clientErr("Container names must be unique: %s is used twice.", name)
		}
		names[name] = true
		if deref(c.Image) == "" {
			return clientErr("Container.image should not be null or empty.")
		}
		if c.Essential == nil {
			c.Essential = ptr(true)
		}
		essential = essential || *c.Essential
		for _, n := range []*int32{c.Cpu, c.Memory, c.MemoryReservation} {
			if n != nil && *n < 0 {
				return clientErr("Invalid setting for container '%s': cpu, memory and memoryReservation must not be negative.", name)
			}
		}
		if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
			return clientErr("Invalid setting for container '%s'. 'memoryReservation' must be less than or equal to 'memory'.", name)
		}
		if c.Memory != nil && *c.Memory > 0 && *c.Memory < 6 {
			return clientErr("Invalid setting for container '%s'. The memory limit must be at least 6 MiB.", name)
		}
		ports := map[string]bool{}
		for j := range c.PortMappings {
			p := &c.PortMappings[j]
			cp := deref(p.ContainerPort)
			if p.ContainerPort == nil || cp < 1 || cp > 65535 {
				return clientErr("Invalid containerPort for container '%s': it must be between 1 and 65535.", name)
			}
			if p.Protocol == nil {
				p.Protocol = ptr("tcp")
			} else if *p.Protocol != "tcp" && *p.Protocol != "udp" {
				return clientErr("Invalid protocol for container '%s': %s. Valid values are tcp and udp.", name, clip(*p.Protocol))
			}
			switch {
			case mode == "awsvpc" || mode == "host":
				if p.HostPort != nil && *p.HostPort != 0 && *p.HostPort != cp {
					return clientErr("When networkMode=%s, the host ports and container ports in port mappings must match.", mode)
				}
				p.HostPort = ptr(cp)
			case p.HostPort == nil:
				p.HostPort = ptr(int32(0))
			case *p.HostPort < 0 || *p.HostPort > 65535:
				return clientErr("Invalid hostPort for container '%s': it must be between 0 and 65535.", name)
			}
			k := fmt.Sprintf("%d/%s", cp, *p.Protocol)
			if ports[k] {
				return clientErr("Container '%s' maps container port %d more than once.", name, cp)
			}
			ports[k] = true
		}
		if c.PortMappings == nil {
			c.PortMappings = []PortMapping{}
		}
		if c.Environment == nil {
			c.Environment = []KeyValuePair{}
		}
		for _, e := range c.Environment {
			if deref(e.Name) == "" {
				return clientErr("Invalid environment variable for container '%s': the name must not be empty.", name)
			}
		}
		if c.MountPoints == nil {
			c.MountPoints = []any{}
		}
		if c.VolumesFrom == nil {
			c.VolumesFrom = []any{}
		}
		if c.SystemControls == nil {
			c.SystemControls = []any{}
		}
		if hc := c.HealthCheck; hc != nil {
			if len(hc.Command) == 0 || (hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL" && hc.Command[0] != "NONE") {
				return clientErr("Invalid healthCheck for container '%s': the command must start with CMD, CMD-SHELL or NONE.", name)
			}
			if hc.Command[0] != "NONE" && len(hc.Command) < 2 {
				return clientErr("Invalid healthCheck for container '%s': the command must not be empty.", name)
			}
			for _, r := range []struct {
				v      **int32
				name   string
				lo, hi int32
				def    int32
			}{{&hc.Interval, "interval", 5, 300, 30}, {&hc.Timeout, "timeout", 2, 60, 5}, {&hc.Retries, "retries", 1, 10, 3}, {&hc.StartPeriod, "startPeriod", 0, 300, -1}} {
				if *r.v == nil {
					if r.def >= 0 {
						*r.v = ptr(r.def)
					}
					continue
				}
				if **r.v < r.lo || **r.v > r.hi {
					return clientErr("Invalid healthCheck for container '%s': %s must be between %d and %d.", name, r.name, r.lo, r.hi)
				}
			}
		}
	}
	if !essential {
		return clientErr("A task definition must have at least one essential container.")
	}
	return nil
}

func (s *Service) registerTaskDefinition(ctx context.Context, in *registerTaskDefinitionInput) (*taskDefinitionOutput, error) {
	if err := validateTaskDefinition(in); err != nil {
		return nil, err
	}
	family := *in.Family
	compat := []string{"EC2"}
	if deref(in.NetworkMode) == "awsvpc" && in.Cpu != nil && in.Memory != nil {
		compat = append(compat, "FARGATE")
	}
	td := taskDefRec{TaskDefinition: TaskDefinition{
		ContainerDefinitions: in.ContainerDefinitions, Family: family, TaskRoleArn: in.TaskRoleArn, ExecutionRoleArn: in.ExecutionRoleArn,
		NetworkMode: in.NetworkMode, Volumes: orEmpty(in.Volumes), Status: statusActive, PlacementConstraints: orEmpty(in.PlacementConstraints),
		Compatibilities: compat, RuntimePlatform: in.RuntimePlatform, RequiresCompatibilities: in.RequiresCompatibilities,
		Cpu: in.Cpu, Memory: in.Memory, PidMode: in.PidMode, IpcMode: in.IpcMode, RegisteredAt: s.nowTime(), EphemeralStorage: in.EphemeralStorage,
	}, Tags: in.Tags}
	if p, ok := awsproto.PrincipalFrom(ctx); ok {
		td.RegisteredBy = p.ARN
		if td.RegisteredBy == "" {
			td.RegisteredBy = "arn:aws:iam::" + s.account + ":root"
		}
	}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		n, err := tx.Count(kindTaskDef, store.ListOptions{Index: family})
		if err != nil {
			return err
		}
		if n >= 1_000_000 {
			return awsproto.Errorf("LimitExceededException", "The maximum number of revisions of a family (1,000,000) has been reached.")
		}
		td.Revision = int32(n + 1)
		td.TaskDefinitionArn = s.taskDefARN(family, td.Revision)
		return put(tx, kindTaskDef, taskDefKey(family, td.Revision), family, 0, td)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "task definition registered", "task_definition", td.TaskDefinitionArn)
	return &taskDefinitionOutput{TaskDefinition: &td.TaskDefinition, Tags: td.Tags}, nil
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// lookupTaskDef resolves "family", "family:rev" or an ARN. A bare family
// is its latest ACTIVE revision. notFound builds the caller's error.
func (s *Service) lookupTaskDef(tx store.Tx, ref string, notFound func() error) (*taskDefRec, *store.Record, error) {
	if res, isARN, err := s.resourceOf(ref, "task definition"); err != nil {
		return nil, nil, notFound()
	} else if isARN {
		r, ok := strings.CutPrefix(res, "task-definition/")
		if !ok {
			return nil, nil, notFound()
		}
		ref = r
	}
	family, revText, hasRev := strings.Cut(ref, ":")
	if !nameRE.MatchString(family) {
		return nil, nil, notFound()
	}
	if hasRev {
		rev, err := strconv.ParseInt(revText, 10, 32)
		if err != nil || rev < 1 {
			return nil, nil, notFound()
		}
		td, rec, err := get[taskDefRec](tx, kindTaskDef, taskDefKey(family, int32(rev)))
		if isNotFound(err) {
			return nil, nil, notFound()
		}
		return td, rec, err
	}
	tds, recs, err := list[taskDefRec](tx, kindTaskDef, store.ListOptions{Index: family})
	if err != nil {
		return nil, nil, err
	}
	for i := len(tds) - 1; i >= 0; i-- {
		if tds[i].Status == statusActive {
			return tds[i], recs[i], nil
		}
	}
	return nil, nil, notFound()
}

type describeTaskDefinitionInput struct {
	TaskDefinition *string  `json:"taskDefinition"`
	Include        []string `json:"include"`
}

func (s *Service) describeTaskDefinition(ctx context.Context, in *describeTaskDefinitionInput) (*taskDefinitionOutput, error) {
	ref := deref(in.TaskDefinition)
	if ref == "" {
		return nil, clientErr("Task Definition can not be blank.")
	}
	for _, inc := range in.Include {
		if inc != "TAGS" {
			return nil, awsproto.Errorf("InvalidParameterException", "Invalid include value: %s", clip(inc))
		}
	}
	var td *taskDefRec
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		td, _, err = s.lookupTaskDef(tx, ref, func() error { return clientErr("Unable to describe task definition.") })
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &taskDefinitionOutput{TaskDefinition: &td.TaskDefinition}
	if slices.Contains(in.Include, "TAGS") {
		out.Tags = td.Tags
		if out.Tags == nil {
			out.Tags = []Tag{}
		}
	}
	return out, nil
}

type listTaskDefinitionsInput struct {
	FamilyPrefix *string `json:"familyPrefix"`
	Status       *string `json:"status"`
	Sort         *string `json:"sort"`
	NextToken    *string `json:"nextToken"`
	MaxResults   *int32  `json:"maxResults"`
}

type listTaskDefinitionsOutput struct {
	TaskDefinitionArns []string `json:"taskDefinitionArns"`
	NextToken          *string  `json:"nextToken,omitempty"`
}

// listTaskDefinitions lists ARNs sorted by family then revision. AWS's
// familyPrefix is, despite its name, the full family name.
func (s *Service) listTaskDefinitions(ctx context.Context, in *listTaskDefinitionsInput) (*listTaskDefinitionsOutput, error) {
	size, err := s.pageSizeOf(in.MaxResults)
	if err != nil {
		return nil, err
	}
	status := deref(in.Status)
	if status == "" {
		status = statusActive
	}
	if status != statusActive && status != "INACTIVE" && status != "DELETE_IN_PROGRESS" {
		return nil, awsproto.Errorf("InvalidParameterException", "Invalid status: %s", clip(status))
	}
	order := deref(in.Sort)
	if order == "" {
		order = "ASC"
	}
	if order != "ASC" && order != "DESC" {
		return nil, awsproto.Errorf("InvalidParameterException", "Invalid sort: %s", clip(order))
	}
	scope := awsproto.TokenScope("ecs:ListTaskDefinitions:" + deref(in.FamilyPrefix) + ":" + status + ":" + order)
	after, err := scope.After(deref(in.NextToken))
	if err != nil {
		return nil, badToken()
	}
	var keys []string
	err = s.st.View(ctx, func(tx store.Tx) error {
		opts := store.ListOptions{}
		if f := deref(in.FamilyPrefix); f != "" {
			opts.Index = f
		}
		tds, recs, err := list[taskDefRec](tx, kindTaskDef, opts)
		for i, td := range tds {
			if td.Status == status {
				keys = append(keys, recs[i].Key)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if order == "DESC" {
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	}
	if after != "" {
		keys = keysAfter(keys, after, order == "DESC")
	}
	page, next := awsproto.PageKeys(scope, keys, size)
	out := &listTaskDefinitionsOutput{TaskDefinitionArns: []string{}}
	for _, k := range page {
		family, rev, _ := strings.Cut(k, ":")
		n, _ := strconv.Atoi(rev)
		out.TaskDefinitionArns = append(out.TaskDefinitionArns, s.taskDefARN(family, int32(n)))
	}
	if next != "" {
		out.NextToken = &next
	}
	return out, nil
}

// keysAfter keeps the sorted keys strictly after the cursor.
func keysAfter(keys []string, after string, desc bool) []string {
	for i, k := range keys {
		if (!desc && k > after) || (desc && k < after) {
			return keys[i:]
		}
	}
	return nil
}

type listTaskDefinitionFamiliesInput struct {
	FamilyPrefix *string `json:"familyPrefix"`
	Status       *string `json:"status"`
	NextToken    *string `json:"nextToken"`
	MaxResults   *int32  `json:"maxResults"`
}

type listTaskDefinitionFamiliesOutput struct {
	Families  []string `json:"families"`
	NextToken *string  `json:"nextToken,omitempty"`
}

// listTaskDefinitionFamilies: ACTIVE families have an ACTIVE revision,
// INACTIVE ones have none.
func (s *Service) listTaskDefinitionFamilies(ctx context.Context, in *listTaskDefinitionFamiliesInput) (*listTaskDefinitionFamiliesOutput, error) {
	size, err := s.pageSizeOf(in.MaxResults)
	if err != nil {
		return nil, err
	}
	status := deref(in.Status)
	if status == "" {
		status = statusActive
	}
	if status != statusActive && status != "INACTIVE" && status != "ALL" {
		return nil, awsproto.Errorf("InvalidParameterException", "Invalid status: %s", clip(status))
	}
	scope := awsproto.TokenScope("ecs:ListTaskDefinitionFamilies:" + deref(in.FamilyPrefix) + ":" + status)
	after, err := scope.After(deref(in.NextToken))
	if err != nil {
		return nil, badToken()
	}
	active := map[string]bool{}
	var families []string
	err = s.st.View(ctx, func(tx store.Tx) error {
		tds, _, err := list[taskDefRec](tx, kindTaskDef, store.ListOptions{Prefix: deref(in.FamilyPrefix)})
		for _, td := range tds {
			if _, seen := active[td.Family]; !seen {
				families = append(families, td.Family)
				active[td.Family] = false
			}
			if td.Status == statusActive {
				active[td.Family] = true
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(families)
	var keys []string
	for _, f := range families {
		if f <= after && after != "" {
			continue
		}
		if status == "ALL" || (status == statusActive) == active[f] {
			keys = append(keys, f)
		}
	}
	page, next := awsproto.PageKeys(scope, keys, size)
	out := &listTaskDefinitionFamiliesOutput{Families: append([]string{}, page...)}
	if next != "" {
		out.NextToken = &next
	}
	return out, nil
}

type deregisterTaskDefinitionInput struct {
	TaskDefinition *string `json:"taskDefinition"`
}

func (s *Service) deregisterTaskDefinition(ctx context.Context, in *deregisterTaskDefinitionInput) (*taskDefinitionOutput, error) {
	ref := deref(in.TaskDefinition)
	if ref == "" {
		return nil, clientErr("Task Definition can not be blank.")
	}
	if !strings.Contains(ref, ":") {
		return nil, clientErr("Revision must be specified: use family:revision or the task definition ARN.")
	}
	var td *taskDefRec
	err := s.st.Update(ctx, func(tx store.Tx) error {
		var rec *store.Record
		var err error
		td, rec, err = s.lookupTaskDef(tx, ref, func() error { return clientErr("The specified task definition does not exist.") })
		if err != nil || td.Status != statusActive {
			return err
		}
		td.Status = "INACTIVE"
		td.DeregisteredAt = ptr(s.nowTime())
		return put(tx, kindTaskDef, rec.Key, td.Family, rec.Version, td)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "task definition deregistered", "task_definition", td.TaskDefinitionArn)
	return &taskDefinitionOutput{TaskDefinition: &td.TaskDefinition}, nil
}
