package ecs

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

func errClusterNotFound() error {
	return fmt.Errorf("%w: %w", ErrClusterNotFound, awsproto.Errorf("ClusterNotFoundException", "Cluster not found."))
}

// loadCluster reads an ACTIVE cluster or answers ClusterNotFoundException.
func loadCluster(tx store.Tx, name string) (*clusterRec, *store.Record, error) {
	c, rec, err := get[clusterRec](tx, kindCluster, name)
	if isNotFound(err) || (err == nil && c.Status != statusActive) {
		return nil, nil, errClusterNotFound()
	}
	return c, rec, err
}

type createClusterInput struct {
	ClusterName                     *string  `json:"clusterName"`
	Tags                            []Tag    `json:"tags"`
	Settings                        []any    `json:"settings"`
	Configuration                   any      `json:"configuration"`
	CapacityProviders               []string `json:"capacityProviders"`
	DefaultCapacityProviderStrategy []any    `json:"defaultCapacityProviderStrategy"`
}

type clusterOutput struct {
	Cluster *Cluster `json:"cluster"`
}

func checkTags(tags []Tag) error {
	if len(tags) > 50 {
		return awsproto.Errorf("InvalidParameterException", "The number of tags must not exceed 50.")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		k := deref(t.Key)
		if k == "" || len(k) > 128 || len(deref(t.Value)) > 256 {
			return awsproto.Errorf("InvalidParameterException", "Tag keys must be 1 to 128 characters and values at most 256 characters.")
		}
		if seen[k] {
			return awsproto.Errorf("InvalidParameterException", "Duplicate tag key: %s", clip(k))
		}
		seen[k] = true
	}
	return nil
}

// createCluster is idempotent: creating an ACTIVE cluster again returns
// it unchanged, as AWS does; an INACTIVE one comes back to life.
func (s *Service) createCluster(ctx context.Context, in *createClusterInput) (*clusterOutput, error) {
	name := defaultName
	if in.ClusterName != nil {
		name = *in.ClusterName
	}
	if !nameRE.MatchString(name) {
		return nil, awsproto.Errorf("InvalidParameterException", "Cluster name can only contain up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	var out *clusterRec
	err := s.st.Update(ctx, func(tx store.Tx) error {
		c, rec, err := get[clusterRec](tx, kindCluster, name)
		switch {
		case err == nil && c.Status == statusActive:
			out = c
			return nil
		case err != nil && !isNotFound(err):
			return err
		}
		var version int64
		if rec != nil {
			version = rec.Version
		}
		out = &clusterRec{Name: name, Status: statusActive, Tags: in.Tags, Settings: in.Settings, Configuration: in.Configuration,
			CapacityProviders: in.CapacityProviders, DefaultStrategy: in.DefaultCapacityProviderStrategy, CreatedAt: s.nowTime()}
		return put(tx, kindCluster, name, "", version, out)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "cluster created", "cluster", name)
	var cl *Cluster
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		cl, err = s.clusterWire(tx, out, true)
		return err
	})
	return &clusterOutput{Cluster: cl}, err
}

// clusterWire describes a cluster with counts taken from its services and
// tasks.
func (s *Service) clusterWire(tx store.Tx, c *clusterRec, withTags bool) (*Cluster, error) {
	out := &Cluster{ClusterArn: s.clusterARN(c.Name), ClusterName: c.Name, Status: c.Status, Statistics: []KeyValuePair{},
		Settings: c.Settings, Configuration: c.Configuration, CapacityProviders: c.CapacityProviders, DefaultCapacityProviderStrategy: c.DefaultStrategy}
	if out.CapacityProviders == nil {
		out.CapacityProviders = []string{}
	}
	if out.DefaultCapacityProviderStrategy == nil {
		out.DefaultCapacityProviderStrategy = []any{}
	}
	if withTags {
		out.Tags = c.Tags
	}
	svcs, _, err := list[serviceRec](tx, kindService, store.ListOptions{Index: c.Name})
	if err != nil {
		return nil, err
	}
	for _, sv := range svcs {
		if sv.Status == statusActive {
			out.ActiveServicesCount++
		}
	}
	tasks, _, err := list[taskRec](tx, kindTask, store.ListOptions{Index: c.Name})
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		switch t.LastStatus {
		case "RUNNING":
			out.RunningTasksCount++
		case "PENDING":
			out.PendingTasksCount++
		}
	}
	return out, nil
}

type describeClustersInput struct {
	Clusters []string `json:"clusters"`
	Include  []string `json:"include"`
}

type describeClustersOutput struct {
	Clusters []*Cluster `json:"clusters"`
	Failures []Failure  `json:"failures"`
}

func (s *Service) describeClusters(ctx context.Context, in *describeClustersInput) (*describeClustersOutput, error) {
	names := in.Clusters
	if len(names) == 0 {
		names = []string{defaultName}
	}
	if len(names) > 100 {
		return nil, awsproto.Errorf("InvalidParameterException", "Clusters cannot have more than 100 elements")
	}
	for _, inc := range in.Include {
		if !slices.Contains([]string{"ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"}, inc) {
			return nil, awsproto.Errorf("InvalidParameterException", "Invalid include value: %s", clip(inc))
		}
	}
	out := &describeClustersOutput{Clusters: []*Cluster{}, Failures: []Failure{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		for _, n := range names {
			name, err := s.clusterName(&n)
			if err != nil {
				return err
			}
			c, _, err := get[clusterRec](tx, kindCluster, name)
			if isNotFound(err) {
				out.Failures = append(out.Failures, Failure{Arn: s.clusterARN(name), Reason: "MISSING"})
				continue
			}
			if err != nil {
				return err
			}
			w, err := s.clusterWire(tx, c, slices.Contains(in.Include, "TAGS"))
			if err != nil {
				return err
			}
			out.Clusters = append(out.Clusters, w)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type listInput struct {
	NextToken  *string `json:"nextToken"`
	MaxResults *int32  `json:"maxResults"`
}

type listClustersOutput struct {
	ClusterArns []string `json:"clusterArns"`
	NextToken   *string  `json:"nextToken,omitempty"`
}

// pageSize validates maxResults (1..100) and returns the page size.
func (s *Service) pageSizeOf(max *int32) (int, error) {
	if max == nil {
		return s.pageSize, nil
	}
	if *max < 1 || *max > 100 {
		return 0, awsproto.Errorf("InvalidParameterException", "maxResults must be between 1 and 100.")
	}
	return int(*max), nil
}

func badToken() error {
	return awsproto.Errorf("InvalidParameterException", "Invalid token.")
}

func (s *Service) listClusters(ctx context.Context, in *listInput) (*listClustersOutput, error) {
	size, err := s.pageSizeOf(in.MaxResults)
	if err != nil {
		return nil, err
	}
	scope := awsproto.TokenScope("ecs:ListClusters")
	after, err := scope.After(deref(in.NextToken))
	if err != nil {
		return nil, badToken()
	}
	var keys []string
	err = s.st.View(ctx, func(tx store.Tx) error {
		cs, recs, err := list[clusterRec](tx, kindCluster, store.ListOptions{After: after})
		for i, c := range cs {
			if c.Status == statusActive {
				keys = append(keys, recs[i].Key)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	page, next := awsproto.PageKeys(scope, keys, size)
	out := &listClustersOutput{ClusterArns: []string{}}
	for _, k := range page {
		out.ClusterArns = append(out.ClusterArns, s.clusterARN(k))
	}
	if next != "" {
		out.NextToken = &next
	}
	return out, nil
}

type deleteClusterInput struct {
	Cluster *string `json:"cluster"`
}

func (s *Service) deleteCluster(ctx context.Context, in *deleteClusterInput) (*clusterOutput, error) {
	if in.Cluster == nil || *in.Cluster == "" {
		return nil, awsproto.Errorf("InvalidParameterException", "Cluster cannot be empty.")
	}
	name, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	var out *Cluster
	err = s.st.Update(ctx, func(tx store.Tx) error {
		c, rec, err := loadCluster(tx, name)
		if err != nil {
			return err
		}
		svcs, _, err := list[serviceRec](tx, kindService, store.ListOptions{Index: name})
		if err != nil {
			return err
		}
		for _, sv := range svcs {
			if sv.Status != statusInactive {
				return awsproto.Errorf("ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active.")
			}
		}
		tasks, _, err := list[taskRec](tx, kindTask, store.ListOptions{Index: name})
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if !t.final() {
				return awsproto.Errorf("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
			}
		}
		c.Status = statusInactive
		if err := put(tx, kindCluster, name, "", rec.Version, c); err != nil {
			return err
		}
		out, err = s.clusterWire(tx, c, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "cluster deleted", "cluster", name)
	return &clusterOutput{Cluster: out}, nil
}
