package codedeploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

func TestPredefinedConfigs(t *testing.T) {
	e := newEnv(t)
	var names []string
	p := cd.NewListDeploymentConfigsPaginator(e.client, &cd.ListDeploymentConfigsInput{})
	for p.HasMorePages() {
		names = append(names, must[*cd.ListDeploymentConfigsOutput](t)(p.NextPage(bg)).DeploymentConfigsList...)
	}
	if len(names) != 17 {
		t.Fatalf("want 17 predefined configs, got %d: %v", len(names), names)
	}
	perPlatform := map[types.ComputePlatform]int{}
	for _, n := range names {
		c := must[*cd.GetDeploymentConfigOutput](t)(e.client.GetDeploymentConfig(bg, &cd.GetDeploymentConfigInput{DeploymentConfigName: aws.String(n)}))
		perPlatform[c.DeploymentConfigInfo.ComputePlatform]++
		if c.DeploymentConfigInfo.CreateTime == nil || aws.ToString(c.DeploymentConfigInfo.DeploymentConfigId) == "" {
			t.Fatalf("%s lacks id or createTime", n)
		}
	}
	if perPlatform[types.ComputePlatformServer] != 3 || perPlatform[types.ComputePlatformEcs] != 5 || perPlatform[types.ComputePlatformLambda] != 9 {
		t.Fatalf("per platform: %v", perPlatform)
	}
	one := must[*cd.GetDeploymentConfigOutput](t)(e.client.GetDeploymentConfig(bg, &cd.GetDeploymentConfigInput{DeploymentConfigName: aws.String("CodeDeployDefault.OneAtATime")}))
	if m := one.DeploymentConfigInfo.MinimumHealthyHosts; m == nil || m.Type != "MOST_CONCURRENCY" || m.Value != 1 {
		t.Fatalf("OneAtATime: %+v", m)
	}
	lin := must[*cd.GetDeploymentConfigOutput](t)(e.client.GetDeploymentConfig(bg, &cd.GetDeploymentConfigInput{DeploymentConfigName: aws.String("CodeDeployDefault.ECSLinear10PercentEvery3Minutes")}))
	if r := lin.DeploymentConfigInfo.TrafficRoutingConfig; r == nil || r.Type != types.TrafficRoutingTypeTimeBasedLinear || r.TimeBasedLinear.LinearInterval != 3 || r.TimeBasedLinear.LinearPercentage != 10 {
		t.Fatalf("ECSLinear10PercentEvery3Minutes: %+v", r)
	}
	// Seeding again (a restart) neither duplicates nor rewrites them.
	before := e.snapshot(t)
	if _, err := New(Config{Region: testRegion, AccountID: testAccount, Store: e.st}); err != nil {
		t.Fatal(err)
	}
	e.unchanged(t, before, "a second New")

	for _, n := range []string{"CodeDeployDefault.OneAtATime", "CodeDeployDefault.LambdaAllAtOnce"} {
		_, err := e.client.DeleteDeploymentConfig(bg, &cd.DeleteDeploymentConfigInput{DeploymentConfigName: aws.String(n)})
		wantType[*types.InvalidOperationException](t, err)
	}
	e.unchanged(t, before, "deleting predefined configs")
	_, err := e.client.GetDeploymentConfig(bg, &cd.GetDeploymentConfigInput{DeploymentConfigName: aws.String("nope")})
	wantType[*types.DeploymentConfigDoesNotExistException](t, err)
	_, err = e.client.GetDeploymentConfig(bg, &cd.GetDeploymentConfigInput{DeploymentConfigName: aws.String("bad name")})
	wantType[*types.InvalidDeploymentConfigNameException](t, err)
	if _, typ, _ := e.raw(t, "GetDeploymentConfig", `{}`); typ != "DeploymentConfigNameRequiredException" {
		t.Fatalf("missing name: %s", typ)
	}
}

func TestCreateDeploymentConfig(t *testing.T) {
	e := newEnv(t)
	mhh := func(typ types.MinimumHealthyHostsType, v int32) *types.MinimumHealthyHosts {
		return &types.MinimumHealthyHosts{Type: typ, Value: v}
	}
	canary := func(p, i int32) *types.TrafficRoutingConfig {
		return &types.TrafficRoutingConfig{Type: types.TrafficRoutingTypeTimeBasedCanary, TimeBasedCanary: &types.TimeBasedCanary{CanaryPercentage: p, CanaryInterval: i}}
	}
	linear := func(p, i int32) *types.TrafficRoutingConfig {
		return &types.TrafficRoutingConfig{Type: types.TrafficRoutingTypeTimeBasedLinear, TimeBasedLinear: &types.TimeBasedLinear{LinearPercentage: p, LinearInterval: i}}
	}
	zonal := func(first, each int64, typ types.MinimumHealthyHostsPerZoneType, v int32) *types.ZonalConfig {
		return &types.ZonalConfig{FirstZoneMonitorDurationInSeconds: aws.Int64(first), MonitorDurationInSeconds: aws.Int64(each),
			MinimumHealthyHostsPerZone: &types.MinimumHealthyHostsPerZone{Type: typ, Value: v}}
	}
	cases := []struct {
		name string
		in   cd.CreateDeploymentConfigInput
		code string // "" = accepted
	}{
		{"server host count", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("HOST_COUNT", 0)}, ""},
		{"server fleet 99", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("FLEET_PERCENT", 99)}, ""},
		{"server zonal", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("FLEET_PERCENT", 50), ZonalConfig: zonal(900, 300, "HOST_COUNT", 1)}, ""},
		{"ecs canary", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformEcs, TrafficRoutingConfig: canary(20, 5)}, ""},
		{"lambda linear", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformLambda, TrafficRoutingConfig: linear(10, 320)}, ""},
		{"lambda all at once", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformLambda, TrafficRoutingConfig: &types.TrafficRoutingConfig{Type: types.TrafficRoutingTypeAllAtOnce}}, ""},

		{"reserved prefix", cd.CreateDeploymentConfigInput{DeploymentConfigName: aws.String("CodeDeployDefault.Mine"), MinimumHealthyHosts: mhh("HOST_COUNT", 1)}, "InvalidDeploymentConfigNameException"},
		{"bad name", cd.CreateDeploymentConfigInput{DeploymentConfigName: aws.String("a b"), MinimumHealthyHosts: mhh("HOST_COUNT", 1)}, "InvalidDeploymentConfigNameException"},
		{"exists", cd.CreateDeploymentConfigInput{DeploymentConfigName: aws.String("server-host-count"), MinimumHealthyHosts: mhh("HOST_COUNT", 1)}, "DeploymentConfigAlreadyExistsException"},
		{"bad platform", cd.CreateDeploymentConfigInput{ComputePlatform: "Windows", MinimumHealthyHosts: mhh("HOST_COUNT", 1)}, "InvalidComputePlatformException"},
		{"server missing mhh", cd.CreateDeploymentConfigInput{}, "InvalidMinimumHealthyHostValueException"},
		{"server negative count", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("HOST_COUNT", -1)}, "InvalidMinimumHealthyHostValueException"},
		{"server fleet 100", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("FLEET_PERCENT", 100)}, "InvalidMinimumHealthyHostValueException"},
		{"server bad type", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("MOST_CONCURRENCY", 1)}, "InvalidMinimumHealthyHostValueException"},
		{"server with routing", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("HOST_COUNT", 1), TrafficRoutingConfig: canary(10, 5)}, "InvalidTrafficRoutingConfigurationException"},
		{"lambda with mhh", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformLambda, MinimumHealthyHosts: mhh("HOST_COUNT", 1), TrafficRoutingConfig: canary(10, 5)}, "InvalidMinimumHealthyHostValueException"},
		{"lambda without routing", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformLambda}, "InvalidTrafficRoutingConfigurationException"},
		{"canary 100", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformEcs, TrafficRoutingConfig: canary(100, 5)}, "InvalidTrafficRoutingConfigurationException"},
		{"canary 0 interval", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformEcs, TrafficRoutingConfig: canary(10, 0)}, "InvalidTrafficRoutingConfigurationException"},
		{"canary too long", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformEcs, TrafficRoutingConfig: canary(10, 2881)}, "InvalidTrafficRoutingConfigurationException"},
		{"linear too long", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformLambda, TrafficRoutingConfig: linear(10, 321)}, "InvalidTrafficRoutingConfigurationException"},
		{"canary missing body", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformEcs, TrafficRoutingConfig: &types.TrafficRoutingConfig{Type: types.TrafficRoutingTypeTimeBasedCanary}}, "InvalidTrafficRoutingConfigurationException"},
		{"all at once with linear", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformEcs, TrafficRoutingConfig: &types.TrafficRoutingConfig{Type: types.TrafficRoutingTypeAllAtOnce, TimeBasedLinear: &types.TimeBasedLinear{LinearPercentage: 10, LinearInterval: 1}}}, "InvalidTrafficRoutingConfigurationException"},
		{"bad routing type", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformEcs, TrafficRoutingConfig: &types.TrafficRoutingConfig{Type: "Sometimes"}}, "InvalidTrafficRoutingConfigurationException"},
		{"zonal on lambda", cd.CreateDeploymentConfigInput{ComputePlatform: types.ComputePlatformLambda, TrafficRoutingConfig: canary(10, 5), ZonalConfig: zonal(1, 1, "HOST_COUNT", 0)}, "InvalidZonalDeploymentConfigurationException"},
		{"zonal negative", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("HOST_COUNT", 0), ZonalConfig: zonal(-1, 1, "HOST_COUNT", 0)}, "InvalidZonalDeploymentConfigurationException"},
		{"zonal percent", cd.CreateDeploymentConfigInput{MinimumHealthyHosts: mhh("HOST_COUNT", 0), ZonalConfig: zonal(1, 1, "FLEET_PERCENT", 100)}, "InvalidZonalDeploymentConfigurationException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			if in.DeploymentConfigName == nil {
				in.DeploymentConfigName = aws.String(strings.ReplaceAll(c.name, " ", "-"))
			}
			before := e.snapshot(t)
			out, err := e.client.CreateDeploymentConfig(bg, &in)
			if c.code != "" {
				wantCode(t, err, c.code)
				e.unchanged(t, before, c.name)
				return
			}
			ok(t, err)
			got := must[*cd.GetDeploymentConfigOutput](t)(e.client.GetDeploymentConfig(bg, &cd.GetDeploymentConfigInput{DeploymentConfigName: in.DeploymentConfigName})).DeploymentConfigInfo
			wantPlatform := in.ComputePlatform
			if wantPlatform == "" {
				wantPlatform = types.ComputePlatformServer
			}
			if aws.ToString(got.DeploymentConfigId) != aws.ToString(out.DeploymentConfigId) || got.ComputePlatform != wantPlatform {
				t.Fatalf("stored %+v", got)
			}
			if in.MinimumHealthyHosts != nil && (got.MinimumHealthyHosts == nil || *got.MinimumHealthyHosts != *in.MinimumHealthyHosts) {
				t.Fatalf("minimumHealthyHosts %+v", got.MinimumHealthyHosts)
			}
			if in.ZonalConfig != nil && (got.ZonalConfig == nil || aws.ToInt64(got.ZonalConfig.MonitorDurationInSeconds) != aws.ToInt64(in.ZonalConfig.MonitorDurationInSeconds) ||
				got.ZonalConfig.MinimumHealthyHostsPerZone.Value != in.ZonalConfig.MinimumHealthyHostsPerZone.Value) {
				t.Fatalf("zonalConfig %+v", got.ZonalConfig)
			}
			if in.TrafficRoutingConfig != nil && (got.TrafficRoutingConfig == nil || got.TrafficRoutingConfig.Type != in.TrafficRoutingConfig.Type) {
				t.Fatalf("trafficRoutingConfig %+v", got.TrafficRoutingConfig)
			}
		})
	}
	if _, typ, _ := e.raw(t, "CreateDeploymentConfig", `{"minimumHealthyHosts":{"type":"HOST_COUNT","value":1}}`); typ != "DeploymentConfigNameRequiredException" {
		t.Fatalf("missing name: %s", typ)
	}
}

func TestDeleteDeploymentConfig(t *testing.T) {
	e := newEnv(t)
	must[*cd.CreateDeploymentConfigOutput](t)(e.client.CreateDeploymentConfig(bg, &cd.CreateDeploymentConfigInput{
		DeploymentConfigName: aws.String("half"), MinimumHealthyHosts: &types.MinimumHealthyHosts{Type: "FLEET_PERCENT", Value: 50},
	}))
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String("web")}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{
		ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole), DeploymentConfigName: aws.String("half"),
	}))
	before := e.snapshot(t)
	_, err := e.client.DeleteDeploymentConfig(bg, &cd.DeleteDeploymentConfigInput{DeploymentConfigName: aws.String("half")})
	wantType[*types.DeploymentConfigInUseException](t, err)
	e.unchanged(t, before, "deleting a config in use")
	must[*cd.UpdateDeploymentGroupOutput](t)(e.client.UpdateDeploymentGroup(bg, &cd.UpdateDeploymentGroupInput{
		ApplicationName: aws.String("web"), CurrentDeploymentGroupName: aws.String("g"), DeploymentConfigName: aws.String("CodeDeployDefault.AllAtOnce"),
	}))
	must[*cd.DeleteDeploymentConfigOutput](t)(e.client.DeleteDeploymentConfig(bg, &cd.DeleteDeploymentConfigInput{DeploymentConfigName: aws.String("half")}))
	_, err = e.client.GetDeploymentConfig(bg, &cd.GetDeploymentConfigInput{DeploymentConfigName: aws.String("half")})
	wantType[*types.DeploymentConfigDoesNotExistException](t, err)
	_, err = e.client.DeleteDeploymentConfig(bg, &cd.DeleteDeploymentConfigInput{DeploymentConfigName: aws.String("bad name")})
	wantType[*types.InvalidDeploymentConfigNameException](t, err)
	if _, typ, _ := e.raw(t, "DeleteDeploymentConfig", `{}`); typ != "DeploymentConfigNameRequiredException" {
		t.Fatalf("missing name: %s", typ)
	}
}

func TestCustomConfigLimit(t *testing.T) {
	e := newEnv(t)
	for i := range maxCustomConfigs {
		must[*cd.CreateDeploymentConfigOutput](t)(e.client.CreateDeploymentConfig(bg, &cd.CreateDeploymentConfigInput{
			DeploymentConfigName: aws.String(fmt.Sprint("c", i)), MinimumHealthyHosts: &types.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 1},
		}))
	}
	_, err := e.client.CreateDeploymentConfig(bg, &cd.CreateDeploymentConfigInput{
		DeploymentConfigName: aws.String("one-too-many"), MinimumHealthyHosts: &types.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 1},
	})
	wantType[*types.DeploymentConfigLimitExceededException](t, err)
	var names []string
	p := cd.NewListDeploymentConfigsPaginator(e.client, &cd.ListDeploymentConfigsInput{})
	for p.HasMorePages() {
		names = append(names, must[*cd.ListDeploymentConfigsOutput](t)(p.NextPage(bg)).DeploymentConfigsList...)
	}
	if len(names) != maxCustomConfigs+17 || !slices.IsSorted(names) {
		t.Fatalf("listed %d configs", len(names))
	}
}
