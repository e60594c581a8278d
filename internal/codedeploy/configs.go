package codedeploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// reservedConfigPrefix starts the names of the predefined configurations;
// custom ones may not use it.
const reservedConfigPrefix = "CodeDeployDefault."

// Default deployment configurations per compute platform.
const (
	DefaultServerConfig = "CodeDeployDefault.OneAtATime"
	DefaultECSConfig    = "CodeDeployDefault.ECSAllAtOnce"
	DefaultLambdaConfig = "CodeDeployDefault.LambdaAllAtOnce"
)

// Index values of config records: Count on "custom" enforces the quota of
// custom configurations without counting the predefined ones.
const (
	configIndexCustom     = "custom"
	configIndexPredefined = "predefined"
)

// predefinedConfigs are AWS's CodeDeployDefault.* configurations.
func predefinedConfigs() []DeploymentConfigInfo {
	mhh := func(t string, v int32) *MinimumHealthyHosts { return &MinimumHealthyHosts{Type: ptr(t), Value: ptr(v)} }
	all := func() *TrafficRoutingConfig { return &TrafficRoutingConfig{Type: ptr("AllAtOnce")} }
	canary := func(p, i int32) *TrafficRoutingConfig {
		return &TrafficRoutingConfig{Type: ptr("TimeBasedCanary"), TimeBasedCanary: &TimeBasedCanary{CanaryPercentage: ptr(p), CanaryInterval: ptr(i)}}
	}
	linear := func(p, i int32) *TrafficRoutingConfig {
		return &TrafficRoutingConfig{Type: ptr("TimeBasedLinear"), TimeBasedLinear: &TimeBasedLinear{LinearPercentage: ptr(p), LinearInterval: ptr(i)}}
	}
	server := func(n string, m *MinimumHealthyHosts) DeploymentConfigInfo {
		return DeploymentConfigInfo{DeploymentConfigName: n, ComputePlatform: PlatformServer, MinimumHealthyHosts: m}
	}
	routed := func(p, n string, t *TrafficRoutingConfig) DeploymentConfigInfo {
		return DeploymentConfigInfo{DeploymentConfigName: n, ComputePlatform: p, TrafficRoutingConfig: t}
	}
	return []DeploymentConfigInfo{
		// AWS reports OneAtATime with a type outside the enum; clients
		// accept it because SDK enums are open strings.
		server("CodeDeployDefault.OneAtATime", mhh("MOST_CONCURRENCY", 1)),
		server("CodeDeployDefault.HalfAtATime", mhh("FLEET_PERCENT", 50)),
		server("CodeDeployDefault.AllAtOnce", mhh("HOST_COUNT", 0)),
		routed(PlatformECS, "CodeDeployDefault.ECSAllAtOnce", all()),
		routed(PlatformECS, "CodeDeployDefault.ECSLinear10PercentEvery1Minutes", linear(10, 1)),
		routed(PlatformECS, "CodeDeployDefault.ECSLinear10PercentEvery3Minutes", linear(10, 3)),
		routed(PlatformECS, "CodeDeployDefault.ECSCanary10Percent5Minutes", canary(10, 5)),
		routed(PlatformECS, "CodeDeployDefault.ECSCanary10Percent15Minutes", canary(10, 15)),
		routed(PlatformLambda, "CodeDeployDefault.LambdaAllAtOnce", all()),
		routed(PlatformLambda, "CodeDeployDefault.LambdaCanary10Percent5Minutes", canary(10, 5)),
		routed(PlatformLambda, "CodeDeployDefault.LambdaCanary10Percent10Minutes", canary(10, 10)),
		routed(PlatformLambda, "CodeDeployDefault.LambdaCanary10Percent15Minutes", canary(10, 15)),
		routed(PlatformLambda, "CodeDeployDefault.LambdaCanary10Percent30Minutes", canary(10, 30)),
		routed(PlatformLambda, "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", linear(10, 1)),
		routed(PlatformLambda, "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes", linear(10, 2)),
		routed(PlatformLambda, "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes", linear(10, 3)),
		routed(PlatformLambda, "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", linear(10, 10)),
	}
}

// predefinedNamespace makes the predefined configs' ids the same on every
// installation, as they are fixed on AWS.
var predefinedNamespace = uuid.MustParse("6f1c0d53-8a1e-4c55-9a0f-3d0f0c0de000")

func (s *Service) seedConfigs(ctx context.Context) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		for _, info := range predefinedConfigs() {
			if _, err := tx.Get(kindConfig, info.DeploymentConfigName); err == nil {
				continue
			} else if !isNotFound(err) {
				return err
			}
			info.DeploymentConfigID = uuid.NewSHA1(predefinedNamespace, []byte(info.DeploymentConfigName)).String()
			info.CreateTime = s.nowTime()
			cfg := DeploymentConfig{DeploymentConfigInfo: info, Predefined: true}
			if err := putJSON(tx, &store.Record{Kind: kindConfig, Key: info.DeploymentConfigName, Index: configIndexPredefined}, cfg); err != nil {
				return err
			}
		}
		return nil
	})
}

type createDeploymentConfigInput struct {
	DeploymentConfigName *string               `json:"deploymentConfigName"`
	MinimumHealthyHosts  *MinimumHealthyHosts  `json:"minimumHealthyHosts"`
	TrafficRoutingConfig *TrafficRoutingConfig `json:"trafficRoutingConfig"`
	ComputePlatform      *string               `json:"computePlatform"`
	ZonalConfig          *ZonalConfig          `json:"zonalConfig"`
}

type createDeploymentConfigOutput struct {
	DeploymentConfigID string `json:"deploymentConfigId"`
}

func (s *Service) createDeploymentConfig(ctx context.Context, in *createDeploymentConfigInput) (*createDeploymentConfigOutput, error) {
	name, err := configName(in.DeploymentConfigName)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(name, reservedConfigPrefix) {
		return nil, awsproto.Errorf("InvalidDeploymentConfigNameException", "Deployment config name %q is invalid: names starting with %q are reserved.", name, reservedConfigPrefix)
	}
	platform := PlatformServer
	if in.ComputePlatform != nil {
		if !oneOf(*in.ComputePlatform, computePlatforms...) {
			return nil, awsproto.Errorf("InvalidComputePlatformException", "Compute platform %q is invalid: it must be one of Server, Lambda, ECS.", *in.ComputePlatform)
		}
		platform = *in.ComputePlatform
	}
	if err := checkConfigBody(platform, in.MinimumHealthyHosts, in.TrafficRoutingConfig, in.ZonalConfig); err != nil {
		return nil, err
	}
	// Zero values the SDKs leave off the wire are stored as the 0 they mean.
	if m := in.MinimumHealthyHosts; m != nil && m.Value == nil {
		m.Value = ptr(int32(0))
	}
	if z := in.ZonalConfig; z != nil && z.MinimumHealthyHostsPerZone != nil && z.MinimumHealthyHostsPerZone.Value == nil {
		z.MinimumHealthyHostsPerZone.Value = ptr(int32(0))
	}
	cfg := DeploymentConfig{DeploymentConfigInfo: DeploymentConfigInfo{
		DeploymentConfigID:   newID(),
		DeploymentConfigName: name,
		MinimumHealthyHosts:  in.MinimumHealthyHosts,
		CreateTime:           s.nowTime(),
		ComputePlatform:      platform,
		TrafficRoutingConfig: in.TrafficRoutingConfig,
		ZonalConfig:          in.ZonalConfig,
	}}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(kindConfig, name); err == nil {
			return awsproto.Errorf("DeploymentConfigAlreadyExistsException", "Deployment Configuration already exists with name %s", name)
		} else if !isNotFound(err) {
			return err
		}
		n, err := tx.Count(kindConfig, store.ListOptions{Index: configIndexCustom})
		if err != nil {
			return err
		}
		if n >= maxCustomConfigs {
			return awsproto.Errorf("DeploymentConfigLimitExceededException", "The maximum number of custom deployment configurations (%d) has been reached.", maxCustomConfigs)
		}
		return putJSON(tx, &store.Record{Kind: kindConfig, Key: name, Index: configIndexCustom}, cfg)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "deployment config created", "deployment_config", name, "compute_platform", platform)
	return &createDeploymentConfigOutput{DeploymentConfigID: cfg.DeploymentConfigID}, nil
}

// checkConfigBody applies the per-platform rules of a custom config.
func checkConfigBody(platform string, mhh *MinimumHealthyHosts, trc *TrafficRoutingConfig, zc *ZonalConfig) error {
	if platform == PlatformServer {
		if trc != nil {
			return awsproto.Errorf("InvalidTrafficRoutingConfigurationException", "Traffic routing configuration is only supported for the Lambda and ECS compute platforms.")
		}
		if mhh == nil {
			return awsproto.Errorf("InvalidMinimumHealthyHostValueException", "The minimum healthy hosts argument is missing.")
		}
		if err := checkMinimumHealthy(str(mhh.Type), mhh.Value, "InvalidMinimumHealthyHostValueException", "minimum healthy hosts"); err != nil {
			return err
		}
		if zc != nil {
			return checkZonal(zc)
		}
		return nil
	}
	if mhh != nil {
		return awsproto.Errorf("InvalidMinimumHealthyHostValueException", "Minimum healthy hosts is only supported for the Server compute platform.")
	}
	if zc != nil {
		return awsproto.Errorf("InvalidZonalDeploymentConfigurationException", "Zonal configuration is only supported for the Server compute platform.")
	}
	if trc == nil {
		return awsproto.Errorf("InvalidTrafficRoutingConfigurationException", "A traffic routing configuration is required for the %s compute platform.", platform)
	}
	return checkTrafficRouting(trc)
}

// checkMinimumHealthy validates a type/value pair. An absent value is 0:
// the SDKs model it as a plain integer and leave zero off the wire.
func checkMinimumHealthy(typ string, value *int32, exc, what string) error {
	if value == nil {
		value = ptr(int32(0))
	}
	switch typ {
	case "HOST_COUNT":
		if *value < 0 {
			return awsproto.Errorf(exc, "The %s value %d is invalid: a HOST_COUNT must be 0 or more.", what, *value)
		}
	case "FLEET_PERCENT":
		if *value < 0 || *value > 99 {
			return awsproto.Errorf(exc, "The %s value %d is invalid: a FLEET_PERCENT must be between 0 and 99.", what, *value)
		}
	case "":
		return awsproto.Errorf(exc, "The %s type is missing: it must be HOST_COUNT or FLEET_PERCENT.", what)
	default:
		return awsproto.Errorf(exc, "The %s type %q is invalid: it must be HOST_COUNT or FLEET_PERCENT.", what, typ)
	}
	return nil
}

func checkZonal(zc *ZonalConfig) error {
	const exc = "InvalidZonalDeploymentConfigurationException"
	if v := zc.FirstZoneMonitorDurationInSeconds; v != nil && *v < 0 {
		return awsproto.Errorf(exc, "firstZoneMonitorDurationInSeconds %d is invalid: it must be 0 or more.", *v)
	}
	if v := zc.MonitorDurationInSeconds; v != nil && *v < 0 {
		return awsproto.Errorf(exc, "monitorDurationInSeconds %d is invalid: it must be 0 or more.", *v)
	}
	if zc.FirstZoneMonitorDurationInSeconds != nil && zc.MonitorDurationInSeconds == nil {
		return awsproto.Errorf(exc, "firstZoneMonitorDurationInSeconds requires monitorDurationInSeconds.")
	}
	if m := zc.MinimumHealthyHostsPerZone; m != nil {
		return checkMinimumHealthy(str(m.Type), m.Value, exc, "minimum healthy hosts per zone")
	}
	return nil
}

func checkTrafficRouting(trc *TrafficRoutingConfig) error {
	const exc = "InvalidTrafficRoutingConfigurationException"
	switch t := str(trc.Type); t {
	case "AllAtOnce":
		if trc.TimeBasedCanary != nil || trc.TimeBasedLinear != nil {
			return awsproto.Errorf(exc, "An AllAtOnce traffic routing configuration takes no canary or linear settings.")
		}
	case "TimeBasedCanary":
		c := trc.TimeBasedCanary
		if c == nil || trc.TimeBasedLinear != nil {
			return awsproto.Errorf(exc, "A TimeBasedCanary traffic routing configuration needs timeBasedCanary and no timeBasedLinear.")
		}
		if err := checkStep(c.CanaryPercentage, c.CanaryInterval, "canary"); err != nil {
			return err
		}
	case "TimeBasedLinear":
		l := trc.TimeBasedLinear
		if l == nil || trc.TimeBasedCanary != nil {
			return awsproto.Errorf(exc, "A TimeBasedLinear traffic routing configuration needs timeBasedLinear and no timeBasedCanary.")
		}
		if err := checkStep(l.LinearPercentage, l.LinearInterval, "linear"); err != nil {
			return err
		}
		// Shifting p% per step takes ceil(100/p) steps, so the last shift
		// happens (steps-1) intervals after the first.
		steps := (100 + *l.LinearPercentage - 1) / *l.LinearPercentage
		if total := int64(steps-1) * int64(*l.LinearInterval); total > maxWaitMinutes {
			return awsproto.Errorf(exc, "The linear traffic shift would take %d minutes; the maximum time between the first and last shift is %d minutes.", total, maxWaitMinutes)
		}
	case "":
		return awsproto.Errorf(exc, "The traffic routing type is missing: it must be TimeBasedCanary, TimeBasedLinear or AllAtOnce.")
	default:
		return awsproto.Errorf(exc, "Traffic routing type %q is invalid: it must be TimeBasedCanary, TimeBasedLinear or AllAtOnce.", t)
	}
	return nil
}

func checkStep(pct, interval *int32, what string) error {
	const exc = "InvalidTrafficRoutingConfigurationException"
	if pct == nil || *pct < 1 || *pct > 99 {
		return awsproto.Errorf(exc, "The %s percentage must be between 1 and 99.", what)
	}
	if interval == nil || *interval < 1 || *interval > maxWaitMinutes {
		return awsproto.Errorf(exc, "The %s interval must be between 1 and %d minutes.", what, maxWaitMinutes)
	}
	return nil
}

// loadConfig reads a deployment config or answers DeploymentConfigDoesNotExistException.
func loadConfig(tx store.Tx, name string) (*DeploymentConfig, *store.Record, error) {
	var cfg DeploymentConfig
	rec, err := getJSON(tx, kindConfig, name, &cfg)
	if isNotFound(err) {
		return nil, nil, awsproto.Errorf("DeploymentConfigDoesNotExistException", "No deployment configuration found for name: %s", name)
	}
	if err != nil {
		return nil, nil, err
	}
	return &cfg, rec, nil
}

// GetDeploymentConfig returns the named configuration for in-process callers.
func (s *Service) GetDeploymentConfig(ctx context.Context, name string) (*DeploymentConfig, error) {
	var cfg *DeploymentConfig
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		cfg, _, err = loadConfig(tx, name)
		return err
	})
	return cfg, err
}

type deploymentConfigNameInput struct {
	DeploymentConfigName *string `json:"deploymentConfigName"`
}

type getDeploymentConfigOutput struct {
	DeploymentConfigInfo *DeploymentConfigInfo `json:"deploymentConfigInfo"`
}

func (s *Service) getDeploymentConfig(ctx context.Context, in *deploymentConfigNameInput) (*getDeploymentConfigOutput, error) {
	name, err := configName(in.DeploymentConfigName)
	if err != nil {
		return nil, err
	}
	cfg, err := s.GetDeploymentConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	return &getDeploymentConfigOutput{DeploymentConfigInfo: &cfg.DeploymentConfigInfo}, nil
}

func (s *Service) deleteDeploymentConfig(ctx context.Context, in *deploymentConfigNameInput) (*empty, error) {
	name, err := configName(in.DeploymentConfigName)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(name, reservedConfigPrefix) {
		return nil, awsproto.Errorf("InvalidOperationException", "The predefined deployment configuration %s cannot be deleted.", name)
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		cfg, rec, err := loadConfig(tx, name)
		if err != nil {
			// Deleting a configuration that does not exist succeeds: the
			// operation models no "does not exist" error.
			if awsproto.AsError(err) != nil {
				return nil
			}
			return err
		}
		if cfg.Predefined {
			return awsproto.Errorf("InvalidOperationException", "The predefined deployment configuration %s cannot be deleted.", name)
		}
		n, err := tx.Count(kindGroup, store.ListOptions{Index: name})
		if err != nil {
			return err
		}
		if n > 0 {
			return awsproto.Errorf("DeploymentConfigInUseException", "Deployment configuration %s is still in use by %d deployment group(s).", name, n)
		}
		if err := tx.Delete(kindConfig, name, rec.Version); err != nil {
			return fmt.Errorf("removing deployment config %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "deployment config deleted", "deployment_config", name)
	return nil, nil
}

type listDeploymentConfigsOutput struct {
	DeploymentConfigsList []string `json:"deploymentConfigsList"`
	NextToken             string   `json:"nextToken,omitempty"`
}

func (s *Service) listDeploymentConfigs(ctx context.Context, in *nextTokenInput) (*listDeploymentConfigsOutput, error) {
	keys, next, err := s.pageKeys(ctx, kindConfig, "", in.NextToken)
	if err != nil {
		return nil, err
	}
	return &listDeploymentConfigsOutput{DeploymentConfigsList: keys, NextToken: next}, nil
}
