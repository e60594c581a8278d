package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func errTaskSetNotFound() error {
	return fmt.Errorf("%w: %w", ErrTaskSetNotFound, awsproto.Errorf("TaskSetNotFoundException", "The specified task set does not exist."))
}

// setIDOf resolves a task set id or ARN to its id ("ecs-svc/<digits>").
func (s *Service) setIDOf(cluster, service, ref string) (string, error) {
	res, isARN, err := s.resourceOf(ref, "task set")
	if err != nil {
		return "", err
	}
	if !isARN {
		return ref, nil
	}
	prefix := "task-set/" + cluster + "/" + service + "/"
	id, ok := strings.CutPrefix(res, prefix)
	if !ok || id == "" {
		return "", invalid("The task set ARN %s does not belong to service %s in cluster %s.", clip(ref), service, cluster)
	}
	return id, nil
}

// setSpec is what creating a task set needs, from the API or the engine.
type setSpec struct {
	cluster, service string
	externalID       string
	taskDefinition   string
	loadBalancers    []LoadBalancer
	scale            *Scale
	launchType       *string
	platformVersion  string
	network          *NetworkConfiguration
	cps              []CapacityProviderStrategyItem
	tags             []Tag
	// controllers lists the deployment controllers this caller may create
	// task sets for.
	controllers []string
	// reuseExternal returns an existing set with the same external id.
	reuseExternal bool
}

func checkScale(sc *Scale) (float64, error) {
	if sc == nil {
		return 100, nil
	}
	if u := deref(sc.Unit); u != "" && u != "PERCENT" {
		return 0, invalid("Invalid scale unit: %s. The only valid unit is PERCENT.", clip(u))
	}
	v := 100.0
	if sc.Value != nil {
		v = *sc.Value
	}
	if math.IsNaN(v) || v < 0 || v > 100 {
		return 0, invalid("The scale value must be between 0 and 100.")
	}
	return v, nil
}

// createSet validates in full, then creates the task set in one
// transaction; created is false when an existing set was returned.
func (s *Service) createSet(ctx context.Context, sp setSpec) (set *setRec, created bool, err error) {
	if sp.taskDefinition == "" {
		return nil, false, invalid("TaskDefinition cannot be empty.")
	}
	scale, err := checkScale(sp.scale)
	if err != nil {
		return nil, false, err
	}
	if len(sp.loadBalancers) > 1 {
		return nil, false, invalid("A task set can have only one load balancer.")
	}
	if err := checkLaunch(sp.launchType, sp.cps); err != nil {
		return nil, false, err
	}
	if err := checkNetwork(sp.network); err != nil {
		return nil, false, err
	}
	if err := checkTags(sp.tags); err != nil {
		return nil, false, err
	}
	if len(sp.externalID) > 255 {
		return nil, false, invalid("externalId must be at most 255 characters.")
	}
	var td *taskDefRec
	var sv *serviceRec
	err = s.st.View(ctx, func(tx store.Tx) error {
		sv, _, err = loadActiveService(tx, sp.cluster, sp.service)
		if err != nil {
			return err
		}
		if !slices.Contains(sp.controllers, sv.Controller) {
			return invalid("Task sets cannot be created for a service with the %s deployment controller.", sv.Controller)
		}
		td, err = taskDefForService(tx, s, sp.taskDefinition)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if err := s.checkLoadBalancers(ctx, sp.loadBalancers, td); err != nil {
		return nil, false, err
	}
	now := s.nowTime()
	set = &setRec{
		Cluster: sp.cluster, Service: sp.service, ExternalID: sp.externalID, Status: setActive,
		TaskDefinition: td.TaskDefinitionArn, LoadBalancers: sp.loadBalancers, ScaleValue: scale,
		LaunchType: deref(sp.launchType), PlatformVersion: sp.platformVersion, NetworkConfiguration: sp.network,
		CapacityProviderStrategy: sp.cps, Tags: sp.tags, CreatedAt: now, UpdatedAt: now,
		StabilityStatus: "STABILIZING", StabilityStatusAt: now,
	}
	if set.LaunchType == "" && len(set.CapacityProviderStrategy) == 0 {
		set.LaunchType = sv.LaunchType
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, _, err := loadActiveService(tx, sp.cluster, sp.service); err != nil {
			return err
		}
		sets, _, err := loadSets(tx, sp.cluster, sp.service)
		if err != nil {
			return err
		}
		if sp.reuseExternal && sp.externalID != "" {
			for _, have := range sets {
				if have.ExternalID == sp.externalID && have.Status != setDraining {
					set = have
					return nil
				}
			}
		}
		if len(sets) >= 5 {
			return awsproto.Errorf("LimitExceededException", "The maximum number of task sets for a service (5) has been reached.")
		}
		// A set created for an external id gets an id derived from it, so
		// the same request made twice names the same set.
		set.ID = ""
		if sp.externalID != "" {
			set.ID = newSetID(sp.cluster + "/" + sp.service + "/" + sp.externalID)
			if _, err := tx.Get(kindSet, set.key()); err == nil {
				set.ID = ""
			}
		}
		if set.ID == "" {
			set.ID = newSetID("")
		}
		created = true
		return put(tx, kindSet, set.key(), serviceKey(sp.cluster, sp.service), 0, set)
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		s.log.InfoContext(ctx, "task set created", "cluster", sp.cluster, "service", sp.service, "task_set", set.ID,
			"external_id", sp.externalID, "task_definition", set.TaskDefinition, "scale", scale)
		s.wake()
	}
	return set, created, nil
}

type createTaskSetInput struct {
	Service                  *string                        `json:"service"`
	Cluster                  *string                        `json:"cluster"`
	ExternalID               *string                        `json:"externalId"`
	TaskDefinition           *string                        `json:"taskDefinition"`
	NetworkConfiguration     *NetworkConfiguration          `json:"networkConfiguration"`
	LoadBalancers            []LoadBalancer                 `json:"loadBalancers"`
	ServiceRegistries        []any                          `json:"serviceRegistries"`
	LaunchType               *string                        `json:"launchType"`
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"capacityProviderStrategy"`
	PlatformVersion          *string                        `json:"platformVersion"`
	Scale                    *Scale                         `json:"scale"`
	ClientToken              *string                        `json:"clientToken"`
	Tags                     []Tag                          `json:"tags"`
}

type taskSetOutput struct {
	TaskSet TaskSetWire `json:"taskSet"`
}

// requireCluster is for operations whose cluster member is required.
func (s *Service) requireCluster(v *string) (string, error) {
	if v == nil || *v == "" {
		return "", invalid("Cluster cannot be empty.")
	}
	return s.clusterName(v)
}

func (s *Service) createTaskSet(ctx context.Context, in *createTaskSetInput) (*taskSetOutput, error) {
	cluster, err := s.requireCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	service, err := s.serviceName(cluster, in.Service)
	if err != nil {
		return nil, err
	}
	set, _, err := s.createSet(ctx, setSpec{
		cluster: cluster, service: service, externalID: deref(in.ExternalID), taskDefinition: deref(in.TaskDefinition),
		loadBalancers: in.LoadBalancers, scale: in.Scale, launchType: in.LaunchType, platformVersion: deref(in.PlatformVersion),
		network: in.NetworkConfiguration, cps: in.CapacityProviderStrategy, tags: in.Tags,
		controllers: []string{ctrlExternal},
	})
	if err != nil {
		return nil, err
	}
	return &taskSetOutput{TaskSet: s.setWire(set, true)}, nil
}

type describeTaskSetsInput struct {
	Cluster  *string  `json:"cluster"`
	Service  *string  `json:"service"`
	TaskSets []string `json:"taskSets"`
	Include  []string `json:"include"`
}

type describeTaskSetsOutput struct {
	TaskSets []TaskSetWire `json:"taskSets"`
	Failures []Failure     `json:"failures"`
}

func (s *Service) describeTaskSets(ctx context.Context, in *describeTaskSetsInput) (*describeTaskSetsOutput, error) {
	cluster, err := s.requireCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	service, err := s.serviceName(cluster, in.Service)
	if err != nil {
		return nil, err
	}
	for _, inc := range in.Include {
		if inc != "TAGS" {
			return nil, invalid("Invalid include value: %s", clip(inc))
		}
	}
	out := &describeTaskSetsOutput{TaskSets: []TaskSetWire{}, Failures: []Failure{}}
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadService(tx, cluster, service); err != nil {
			return err
		}
		sets, _, err := loadSets(tx, cluster, service)
		if err != nil {
			return err
		}
		sortSets(sets)
		tags := slices.Contains(in.Include, "TAGS")
		if len(in.TaskSets) == 0 {
			for _, set := range sets {
				if !set.Deployment {
					out.TaskSets = append(out.TaskSets, s.setWire(set, tags))
				}
			}
			return nil
		}
		for _, ref := range in.TaskSets {
			id, err := s.setIDOf(cluster, service, ref)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(sets, func(set *setRec) bool { return set.ID == id && !set.Deployment })
			if i < 0 {
				out.Failures = append(out.Failures, Failure{Arn: s.taskSetARN(cluster, service, id), Reason: "MISSING"})
				continue
			}
			out.TaskSets = append(out.TaskSets, s.setWire(sets[i], tags))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mutateSet runs fn on one task set of an ACTIVE service whose controller
// is in controllers, in one transaction.
func (s *Service) mutateSet(ctx context.Context, cluster, service, id string, controllers []string, fn func(tx store.Tx, sv *serviceRec, set *setRec, sets []*setRec) error) (*setRec, error) {
	var out *setRec
	err := s.st.Update(ctx, func(tx store.Tx) error {
		sv, _, err := loadActiveService(tx, cluster, service)
		if err != nil {
			return err
		}
		if !slices.Contains(controllers, sv.Controller) {
			return invalid("Task sets of a service with the %s deployment controller cannot be changed through this API.", sv.Controller)
		}
		sets, recs, err := loadSets(tx, cluster, service)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(sets, func(set *setRec) bool { return set.ID == id && !set.Deployment })
		if i < 0 {
			return errTaskSetNotFound()
		}
		before := make([][]byte, len(sets))
		for j, set := range sets {
			before[j], _ = json.Marshal(set)
		}
		if err := fn(tx, sv, sets[i], sets); err != nil {
			return err
		}
		for j, set := range sets {
			if b, _ := json.Marshal(set); !bytes.Equal(b, before[j]) {
				set.UpdatedAt = s.nowTime()
				if err := put(tx, kindSet, recs[j].Key, recs[j].Index, recs[j].Version, set); err != nil {
					return err
				}
			}
		}
		out = sets[i]
		return nil
	})
	if err == nil {
		s.wake()
	}
	return out, err
}

type updateTaskSetInput struct {
	Cluster *string `json:"cluster"`
	Service *string `json:"service"`
	TaskSet *string `json:"taskSet"`
	Scale   *Scale  `json:"scale"`
}

func (s *Service) setRefs(clusterV, serviceV, setV *string) (cluster, service, id string, err error) {
	if cluster, err = s.requireCluster(clusterV); err != nil {
		return
	}
	if service, err = s.serviceName(cluster, serviceV); err != nil {
		return
	}
	if deref(setV) == "" {
		return "", "", "", invalid("TaskSet cannot be empty.")
	}
	id, err = s.setIDOf(cluster, service, *setV)
	return
}

func (s *Service) updateTaskSet(ctx context.Context, in *updateTaskSetInput) (*taskSetOutput, error) {
	cluster, service, id, err := s.setRefs(in.Cluster, in.Service, in.TaskSet)
	if err != nil {
		return nil, err
	}
	if in.Scale == nil {
		return nil, invalid("Scale cannot be empty.")
	}
	scale, err := checkScale(in.Scale)
	if err != nil {
		return nil, err
	}
	set, err := s.mutateSet(ctx, cluster, service, id, []string{ctrlExternal}, func(_ store.Tx, _ *serviceRec, set *setRec, _ []*setRec) error {
		if set.Status == setDraining {
			return invalid("The task set is being deleted.")
		}
		set.ScaleValue = scale
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "task set scaled", "cluster", cluster, "service", service, "task_set", id, "scale", scale)
	return &taskSetOutput{TaskSet: s.setWire(set, false)}, nil
}

type updatePrimaryInput struct {
	Cluster        *string `json:"cluster"`
	Service        *string `json:"service"`
	PrimaryTaskSet *string `json:"primaryTaskSet"`
}

// makePrimary is shared by the API and the engine: the set becomes
// PRIMARY, the former primary ACTIVE, and the service takes the set's task
// definition.
func (s *Service) makePrimary(tx store.Tx, sv *serviceRec, set *setRec, sets []*setRec) error {
	if set.Status == setDraining {
		return invalid("The task set is being deleted and cannot become the primary task set.")
	}
	for _, other := range sets {
		if other.Status == setPrimary && other.ID != set.ID {
			other.Status = setActive
		}
	}
	set.Status = setPrimary
	if sv.TaskDefinition != set.TaskDefinition {
		rec, err := tx.Get(kindService, serviceKey(sv.Cluster, sv.Name))
		if err != nil {
			return err
		}
		sv.TaskDefinition = set.TaskDefinition
		return put(tx, kindService, rec.Key, rec.Index, rec.Version, sv)
	}
	return nil
}

func (s *Service) updateServicePrimaryTaskSet(ctx context.Context, in *updatePrimaryInput) (*taskSetOutput, error) {
	cluster, service, id, err := s.setRefs(in.Cluster, in.Service, in.PrimaryTaskSet)
	if err != nil {
		return nil, err
	}
	set, err := s.mutateSet(ctx, cluster, service, id, []string{ctrlExternal}, s.makePrimary)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "primary task set changed", "cluster", cluster, "service", service, "task_set", id)
	return &taskSetOutput{TaskSet: s.setWire(set, false)}, nil
}

type deleteTaskSetInput struct {
	Cluster *string `json:"cluster"`
	Service *string `json:"service"`
	TaskSet *string `json:"taskSet"`
	Force   *bool   `json:"force"`
}

// deleteTaskSet marks the set DRAINING; the scheduler deregisters its
// tasks, stops them once drained and then forgets the set.
func (s *Service) deleteTaskSet(ctx context.Context, in *deleteTaskSetInput) (*taskSetOutput, error) {
	cluster, service, id, err := s.setRefs(in.Cluster, in.Service, in.TaskSet)
	if err != nil {
		return nil, err
	}
	set, err := s.mutateSet(ctx, cluster, service, id, []string{ctrlExternal}, func(_ store.Tx, _ *serviceRec, set *setRec, _ []*setRec) error {
		if set.ScaleValue > 0 && !deref(in.Force) && set.Status != setDraining {
			return invalid("The task set cannot be deleted while it is scaled above 0. Scale it to 0 or use force.")
		}
		set.Status = setDraining
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "task set deleted", "cluster", cluster, "service", service, "task_set", id)
	return &taskSetOutput{TaskSet: s.setWire(set, false)}, nil
}

var _ = errors.Is
