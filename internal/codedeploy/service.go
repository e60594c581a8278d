// Package codedeploy is cutover's CodeDeploy control plane: applications,
// deployment groups, deployment configurations, application revisions,
// on-premises instances and resource tags, served over AWS JSON 1.1 as
// CodeDeploy_20141006. Deployments themselves are run by the engine; this
// package validates their requests and answers with AWS's errors until the
// engine registers them.
//
// Every resource is one JSON record in the store. A request is validated in
// full before its single write transaction starts, so bad input never
// changes what is stored.
package codedeploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/store"
)

// Record kinds. Keys join names with "/" because no CodeDeploy name may
// contain it, so "<app>/" is an exact prefix for everything of one
// application.
const (
	kindApplication = "codedeploy.application"      // key: app
	kindGroup       = "codedeploy.deploymentgroup"  // key: app/group; index: config name
	kindConfig      = "codedeploy.deploymentconfig" // key: config name
	kindRevision    = "codedeploy.revision"         // key: app/identity; index: app
	kindInstance    = "codedeploy.instance"         // key: instance name; index: IAM ARN
	kindECSService  = "codedeploy.ecsservice"       // key: cluster/service; data: owning group key
)

// Limits AWS documents as quotas.
const (
	maxApplications      = 1000
	maxGroupsPerApp      = 1000
	maxCustomConfigs     = 200
	maxResourceTags      = 50
	maxInstanceTags      = 10
	maxTriggers          = 10
	maxAlarms            = 10
	maxAutoScalingGroups = 10
	maxTagSetGroups      = 3
	maxWaitMinutes       = 2880
	maxDescription       = 256
)

// Config configures the service.
type Config struct {
	Region, AccountID string
	Store             store.Store
	Log               *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TriggersQueued is called after a commit that may have queued
	// trigger notifications (see package triggers), so the dispatcher
	// sends them at once rather than at its next poll.
	TriggersQueued func()
}

// Service is the CodeDeploy control plane.
type Service struct {
	region, account string
	st              store.Store
	log             *slog.Logger
	now             func() time.Time
	// pageSize is the number of items per list page; a variable so tests
	// can page through small sets.
	pageSize int
	json     *jsonrpc.Service
	hooks    engineHooksBox

	triggersQueued func()

	// platformPreparers check a new deployment's revision against its
	// group, per compute platform, and return the AppSpec the engine runs.
	// A platform without one is refused.
	platformPreparers map[string]preparer
	server            serverParts
}

// Identity is the region and account the service's ARNs are in.
func (s *Service) Identity() (region, accountID string) { return s.region, s.account }

type preparer func(ctx context.Context, g *DeploymentGroup, loc *RevisionLocation) (appSpec string, err error)

// New returns the service, storing the predefined deployment configurations
// if they are missing.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("codedeploy: a store is required")
	}
	if cfg.Region == "" || cfg.AccountID == "" {
		return nil, errors.New("codedeploy: region and account id are required")
	}
	s := &Service{
		region:   cfg.Region,
		account:  cfg.AccountID,
		st:       cfg.Store,
		log:      cfg.Log,
		now:      cfg.Now,
		pageSize: 100,

		triggersQueued: cfg.TriggersQueued,
	}
	s.platformPreparers = map[string]preparer{PlatformECS: s.prepareECS, PlatformLambda: s.prepareLambda, PlatformServer: s.prepareServer}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.seedConfigs(context.Background()); err != nil {
		return nil, fmt.Errorf("codedeploy: seeding predefined deployment configs: %w", err)
	}
	s.json = jsonrpc.New(s.log, "1.1", "CodeDeploy_20141006")
	s.register(s.json)
	return s, nil
}

// JSON returns the JSON 1.1 service to register under signing name "codedeploy".
func (s *Service) JSON() *jsonrpc.Service { return s.json }

func (s *Service) register(j *jsonrpc.Service) {
	jsonrpc.Handle(j, "CreateApplication", s.createApplication)
	jsonrpc.Handle(j, "GetApplication", s.getApplication)
	jsonrpc.Handle(j, "UpdateApplication", s.updateApplication)
	jsonrpc.Handle(j, "DeleteApplication", s.deleteApplication)
	jsonrpc.Handle(j, "ListApplications", s.listApplications)
	jsonrpc.Handle(j, "BatchGetApplications", s.batchGetApplications)

	jsonrpc.Handle(j, "CreateDeploymentConfig", s.createDeploymentConfig)
	jsonrpc.Handle(j, "GetDeploymentConfig", s.getDeploymentConfig)
	jsonrpc.Handle(j, "DeleteDeploymentConfig", s.deleteDeploymentConfig)
	jsonrpc.Handle(j, "ListDeploymentConfigs", s.listDeploymentConfigs)

	jsonrpc.Handle(j, "CreateDeploymentGroup", s.createDeploymentGroup)
	jsonrpc.Handle(j, "GetDeploymentGroup", s.getDeploymentGroup)
	jsonrpc.Handle(j, "UpdateDeploymentGroup", s.updateDeploymentGroup)
	jsonrpc.Handle(j, "DeleteDeploymentGroup", s.deleteDeploymentGroup)
	jsonrpc.Handle(j, "ListDeploymentGroups", s.listDeploymentGroups)
	jsonrpc.Handle(j, "BatchGetDeploymentGroups", s.batchGetDeploymentGroups)

	jsonrpc.Handle(j, "RegisterApplicationRevision", s.registerApplicationRevision)
	jsonrpc.Handle(j, "GetApplicationRevision", s.getApplicationRevision)
	jsonrpc.Handle(j, "ListApplicationRevisions", s.listApplicationRevisions)
	jsonrpc.Handle(j, "BatchGetApplicationRevisions", s.batchGetApplicationRevisions)

	jsonrpc.Handle(j, "RegisterOnPremisesInstance", s.registerOnPremisesInstance)
	jsonrpc.Handle(j, "DeregisterOnPremisesInstance", s.deregisterOnPremisesInstance)
	jsonrpc.Handle(j, "GetOnPremisesInstance", s.getOnPremisesInstance)
	jsonrpc.Handle(j, "ListOnPremisesInstances", s.listOnPremisesInstances)
	jsonrpc.Handle(j, "BatchGetOnPremisesInstances", s.batchGetOnPremisesInstances)
	jsonrpc.Handle(j, "AddTagsToOnPremisesInstances", s.addTagsToOnPremisesInstances)
	jsonrpc.Handle(j, "RemoveTagsFromOnPremisesInstances", s.removeTagsFromOnPremisesInstances)

	jsonrpc.Handle(j, "TagResource", s.tagResource)
	jsonrpc.Handle(j, "UntagResource", s.untagResource)
	jsonrpc.Handle(j, "ListTagsForResource", s.listTagsForResource)

	jsonrpc.Handle(j, "ListGitHubAccountTokenNames", s.listGitHubAccountTokenNames)
	jsonrpc.Handle(j, "DeleteGitHubAccountToken", s.deleteGitHubAccountToken)
	jsonrpc.Handle(j, "DeleteResourcesByExternalId", s.deleteResourcesByExternalID)

	s.registerDeploymentOps(j)
}

// empty is the answer of operations without output members.
type empty struct{}

func newID() string { return uuid.NewString() }

func (s *Service) nowTime() awsproto.Time {
	return awsproto.NewTime(s.now().UTC().Truncate(time.Millisecond))
}

// getJSON reads one record and decodes it into v; it returns the record
// (for its version) or store.ErrNotFound.
func getJSON(tx store.Tx, kind, key string, v any) (*store.Record, error) {
	rec, err := tx.Get(kind, key)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(rec.Data, v); err != nil {
		return nil, fmt.Errorf("decoding %s %q: %w", kind, key, err)
	}
	return rec, nil
}

// putJSON writes v into rec (a new record when rec.Version is 0).
func putJSON(tx store.Tx, rec *store.Record, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s %q: %w", rec.Kind, rec.Key, err)
	}
	rec.Data = b
	if err := tx.Put(rec); err != nil {
		return fmt.Errorf("storing %s %q: %w", rec.Kind, rec.Key, err)
	}
	return nil
}

// listJSON decodes every record of a kind matching opts.
func listJSON[T any](tx store.Tx, kind string, opts store.ListOptions) ([]T, []*store.Record, error) {
	recs, err := tx.List(kind, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", kind, err)
	}
	out := make([]T, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r.Data, &out[i]); err != nil {
			return nil, nil, fmt.Errorf("decoding %s %q: %w", kind, r.Key, err)
		}
	}
	return out, recs, nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// groupKey is the store key of a deployment group.
func groupKey(app, group string) string { return app + "/" + group }
