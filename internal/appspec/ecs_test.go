package appspec

import (
	"errors"
	"strings"
	"testing"
)

// The user guide's ECS example, in YAML and JSON (written out by hand).
const ecsGuideYAML = `version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: "arn:aws:ecs:us-east-1:111222333444:task-definition/my-task-definition-family-name:1"
        LoadBalancerInfo:
          ContainerName: "SampleApplicationName"
          ContainerPort: 80
        PlatformVersion: "LATEST"
        NetworkConfiguration:
          AwsvpcConfiguration:
            Subnets: ["subnet-1234abcd","subnet-5678abcd"]
            SecurityGroups: ["sg-12345678"]
            AssignPublicIp: "ENABLED"
        CapacityProviderStrategy:
          - Base: 1
            CapacityProvider: "FARGATE_SPOT"
            Weight: 2
          - Base: 0
            CapacityProvider: "FARGATE"
            Weight: 1
Hooks:
  - BeforeInstall: "LambdaFunctionToValidateBeforeInstall"
  - AfterInstall: "LambdaFunctionToValidateAfterInstall"
  - AfterAllowTestTraffic: "LambdaFunctionToValidateAfterTestTrafficStarts"
  - BeforeAllowTraffic: "LambdaFunctionToValidateBeforeAllowingProductionTraffic"
  - AfterAllowTraffic: "LambdaFunctionToValidateAfterAllowingProductionTraffic"
`

const ecsGuideJSON = `{
	"version": 0.0,
	"Resources": [
		{
			"TargetService": {
				"Type": "AWS::ECS::Service",
				"Properties": {
					"TaskDefinition": "arn:aws:ecs:us-east-1:111222333444:task-definition/my-task-definition-family-name:1",
					"LoadBalancerInfo": {
						"ContainerName": "SampleApplicationName",
						"ContainerPort": 80
					},
					"PlatformVersion": "LATEST",
					"NetworkConfiguration": {
						"AwsvpcConfiguration": {
							"Subnets": ["subnet-1234abcd", "subnet-5678abcd"],
							"SecurityGroups": ["sg-12345678"],
							"AssignPublicIp": "ENABLED"
						}
					},
					"CapacityProviderStrategy": [
						{"Base": 1, "CapacityProvider": "FARGATE_SPOT", "Weight": 2},
						{"Base": 0, "CapacityProvider": "FARGATE", "Weight": 1}
					]
				}
			}
		}
	],
	"Hooks": [
		{"BeforeInstall": "LambdaFunctionToValidateBeforeInstall"},
		{"AfterInstall": "LambdaFunctionToValidateAfterInstall"},
		{"AfterAllowTestTraffic": "LambdaFunctionToValidateAfterTestTrafficStarts"},
		{"BeforeAllowTraffic": "LambdaFunctionToValidateBeforeAllowingProductionTraffic"},
		{"AfterAllowTraffic": "LambdaFunctionToValidateAfterAllowingProductionTraffic"}
	]
}`

const ecsMinimal = `version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: web:3
        LoadBalancerInfo: {ContainerName: web, ContainerPort: 8080}
`

func TestParseECSGuideExamples(t *testing.T) {
	for name, doc := range map[string]string{"yaml": ecsGuideYAML, "json": ecsGuideJSON} {
		t.Run(name, func(t *testing.T) {
			e, err := ParseECS([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			s := e.Service
			if s.LogicalName != "TargetService" || s.TaskDefinitionFamily != "my-task-definition-family-name" || s.TaskDefinitionRevision != 1 {
				t.Errorf("service = %+v", s)
			}
			if s.ContainerName != "SampleApplicationName" || s.ContainerPort != 80 || s.PlatformVersion != "LATEST" {
				t.Errorf("service = %+v", s)
			}
			if nc := s.NetworkConfiguration; nc == nil || len(nc.Subnets) != 2 || nc.SecurityGroups[0] != "sg-12345678" || nc.AssignPublicIp != "ENABLED" {
				t.Errorf("network = %+v", s.NetworkConfiguration)
			}
			if len(s.CapacityProviderStrategy) != 2 || s.CapacityProviderStrategy[0] != (CapacityProviderStrategyItem{"FARGATE_SPOT", 2, 1}) {
				t.Errorf("strategy = %+v", s.CapacityProviderStrategy)
			}
			if len(e.Hooks) != 5 {
				t.Fatalf("hooks = %+v", e.Hooks)
			}
			h, ok := e.Hook(EventAfterAllowTestTraffic)
			if !ok || h.Target != "LambdaFunctionToValidateAfterTestTrafficStarts" || h.IsURL {
				t.Errorf("AfterAllowTestTraffic = %+v %v", h, ok)
			}
			if err := e.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestParseECSAccepted(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, e *ECS)
	}{
		{"minimal family:rev", ecsMinimal, func(t *testing.T, e *ECS) {
			if e.Service.TaskDefinitionFamily != "web" || e.Service.TaskDefinitionRevision != 3 || e.Hooks != nil {
				t.Errorf("%+v", e)
			}
		}},
		{"family only means latest", strings.Replace(ecsMinimal, "web:3", "web", 1), func(t *testing.T, e *ECS) {
			if e.Service.TaskDefinitionRevision != 0 {
				t.Errorf("%+v", e.Service)
			}
		}},
		{"lower-case keys as in the structure section", `version: 0.0
resources:
  - TargetService:
      type: AWS::ECS::Service
      properties:
        taskdefinition: web:3
        loadbalancerinfo: {containername: web, containerport: 8080}
hooks:
  - BeforeInstall: fn
`, func(t *testing.T, e *ECS) {
			if e.Service.ContainerPort != 8080 || len(e.Hooks) != 1 {
				t.Errorf("%+v", e)
			}
		}},
		{"quoted version", strings.Replace(ecsMinimal, "version: 0.0", `version: "0.0"`, 1), nil},
		{"integer version", strings.Replace(ecsMinimal, "version: 0.0", `version: 0`, 1), nil},
		{"numeric string port", strings.Replace(ecsMinimal, "ContainerPort: 8080", `ContainerPort: "8080"`, 1), func(t *testing.T, e *ECS) {
			if e.Service.ContainerPort != 8080 {
				t.Errorf("port %d", e.Service.ContainerPort)
			}
		}},
		{"gov partition ARN", strings.Replace(ecsMinimal, "web:3", "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task-definition/web:12", 1), nil},
		{"URL hook (cutover extension)", ecsMinimal + "Hooks:\n  - AfterAllowTestTraffic: https://ci.example.com/hooks/smoke?x=1\n", func(t *testing.T, e *ECS) {
			h, _ := e.Hook(EventAfterAllowTestTraffic)
			if !h.IsURL || h.Target != "https://ci.example.com/hooks/smoke?x=1" {
				t.Errorf("%+v", h)
			}
		}},
		{"function ARN with alias", ecsMinimal + "Hooks:\n  - BeforeInstall: arn:aws:lambda:us-east-1:123456789012:function:check:live\n", nil},
		{"function with version qualifier", ecsMinimal + "Hooks:\n  - BeforeInstall: check:7\n", nil},
		{"null hooks", ecsMinimal + "Hooks:\n", nil},
		{"empty hooks list", ecsMinimal + "Hooks: []\n", nil},
		{"BOM", "\xef\xbb\xbf" + ecsMinimal, nil},
		{"comments", "# deploy web\n" + ecsMinimal + "# end\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseECS([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func TestParseECSErrors(t *testing.T) {
	props := func(repl string) string {
		return strings.Replace(ecsMinimal, "        LoadBalancerInfo: {ContainerName: web, ContainerPort: 8080}\n", repl, 1)
	}
	tests := []struct {
		name string
		doc  string
		line int    // 0: don't check
		path string // "": don't check
		msg  string // substring
	}{
		{"empty", "", 0, "", "empty"},
		{"only a comment", "# nothing\n", 0, "", "empty"},
		{"top-level list", "- a\n- b\n", 1, "", "mapping"},
		{"bad YAML", "version: 0.0\nResources: [\n", 0, "", "invalid YAML"},
		{"bad JSON", "{\n  \"version\": 0.0,\n  \"Resources\": [,]\n}", 3, "", "invalid JSON"},
		{"alias", "version: &v 0.0\nResources: *v\n", 2, "", "aliases"},
		{"missing version", strings.Replace(ecsMinimal, "version: 0.0\n", "", 1), 0, "version", "missing"},
		{"wrong version", strings.Replace(ecsMinimal, "version: 0.0", "version: 1.0", 1), 1, "version", "must be 0.0"},
		{"string version 1", strings.Replace(ecsMinimal, "version: 0.0", `version: "1"`, 1), 1, "version", "must be 0.0"},
		{"unknown top-level key", ecsMinimal + "os: linux\n", 8, "os", "unknown key"},
		{"duplicate top-level key by case", ecsMinimal + "resources: []\n", 8, "resources", "duplicate key (first given at line 2)"},
		{"missing Resources", "version: 0.0\n", 0, "Resources", "missing"},
		{"Resources not a list", "version: 0.0\nResources: {a: b}\n", 2, "Resources", "expected a list"},
		{"no resource", "version: 0.0\nResources: []\n", 2, "Resources", "exactly one resource, found 0"},
		{"two resources", strings.Replace(ecsMinimal, "Resources:\n", "Resources:\n  - Other: {Type: AWS::ECS::Service}\n", 1), 0, "Resources", "found 2"},
		{"resource with two keys", "version: 0.0\nResources:\n  - A: {}\n    B: {}\n", 3, "Resources[0]", "found 2 keys"},
		{"missing Type", strings.Replace(ecsMinimal, "      Type: AWS::ECS::Service\n", "", 1), 0, "Resources[0].TargetService", "missing Type"},
		{"Lambda type", strings.Replace(ecsMinimal, "AWS::ECS::Service", "AWS::Lambda::Function", 1), 4, "Resources[0].TargetService.Type", "Lambda AppSpec"},
		{"type case", strings.Replace(ecsMinimal, "AWS::ECS::Service", "aws::ecs::service", 1), 4, "", "did you mean"},
		{"unknown resource key", strings.Replace(ecsMinimal, "      Type:", "      Kind: x\n      Type:", 1), 4, "Resources[0].TargetService.Kind", "unknown key"},
		{"missing Properties", "version: 0.0\nResources:\n  - T:\n      Type: AWS::ECS::Service\n", 0, "", "missing Properties"},
		{"Properties a list", "version: 0.0\nResources:\n  - T:\n      Type: AWS::ECS::Service\n      Properties: []\n", 5, "Resources[0].T.Properties", "expected a mapping"},
		{"missing TaskDefinition", strings.Replace(ecsMinimal, "        TaskDefinition: web:3\n", "", 1), 0, "Resources[0].TargetService.Properties.TaskDefinition", "missing"},
		{"bad ARN", strings.Replace(ecsMinimal, "web:3", "arn:aws:ecs:us-east-1:123:task-definition/web:3", 1), 6, "Properties.TaskDefinition", "not a task definition ARN"},
		{"ARN without revision", strings.Replace(ecsMinimal, "web:3", "arn:aws:ecs:us-east-1:123456789012:task-definition/web", 1), 6, "", "not a task definition ARN"},
		{"revision 0", strings.Replace(ecsMinimal, "web:3", "web:0", 1), 6, "", "positive"},
		{"bad family", strings.Replace(ecsMinimal, "web:3", `"web app"`, 1), 6, "", "not a task definition"},
		{"TaskDefinition list", strings.Replace(ecsMinimal, "web:3", "[web]", 1), 6, "", "expected a string"},
		{"empty TaskDefinition", strings.Replace(ecsMinimal, "web:3", `""`, 1), 6, "", "must not be empty"},
		{"missing LoadBalancerInfo", props(""), 0, "LoadBalancerInfo", "missing"},
		{"missing ContainerName", props("        LoadBalancerInfo: {ContainerPort: 80}\n"), 7, "LoadBalancerInfo.ContainerName", "missing"},
		{"missing ContainerPort", props("        LoadBalancerInfo: {ContainerName: web}\n"), 7, "LoadBalancerInfo.ContainerPort", "missing"},
		{"port zero", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 0}\n"), 7, "ContainerPort", "1 to 65535"},
		{"port too big", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 70000}\n"), 7, "", "1 to 65535"},
		{"port word", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: http}\n"), 7, "", "whole number"},
		{"port fraction", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80.5}\n"), 7, "", "whole number"},
		{"port bool", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: true}\n"), 7, "", "boolean"},
		{"unknown LB key", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80, TargetGroup: tg}\n"), 7, "LoadBalancerInfo.TargetGroup", "unknown key"},
		{"unknown property", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        DesiredCount: 2\n"), 8, "Properties.DesiredCount", "unknown property"},
		{"duplicate property", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        taskdefinition: web:4\n"), 8, "", "duplicate key"},
		{"empty PlatformVersion", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        PlatformVersion: \"\"\n"), 8, "PlatformVersion", "empty"},
		{"network missing Awsvpc", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        NetworkConfiguration: {}\n"), 8, "NetworkConfiguration.AwsvpcConfiguration", "missing"},
		{"network partial", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        NetworkConfiguration:\n          AwsvpcConfiguration: {Subnets: [s-1]}\n"), 9, "AwsvpcConfiguration", "missing SecurityGroups, AssignPublicIp"},
		{"bad AssignPublicIp", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        NetworkConfiguration:\n          AwsvpcConfiguration: {Subnets: [s-1], SecurityGroups: [g], AssignPublicIp: yes}\n"), 9, "AssignPublicIp", `found "yes"`},
		{"lower-case AssignPublicIp", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        NetworkConfiguration:\n          AwsvpcConfiguration: {Subnets: [s-1], SecurityGroups: [g], AssignPublicIp: enabled}\n"), 9, "AssignPublicIp", "ENABLED or DISABLED"},
		{"no subnets", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        NetworkConfiguration:\n          AwsvpcConfiguration: {Subnets: [], SecurityGroups: [g], AssignPublicIp: ENABLED}\n"), 9, "", "1 to 16 subnets"},
		{"subnets a string", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        NetworkConfiguration:\n          AwsvpcConfiguration: {Subnets: s-1, SecurityGroups: [g], AssignPublicIp: ENABLED}\n"), 9, "Subnets", "list of strings"},
		{"unknown awsvpc key", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        NetworkConfiguration:\n          AwsvpcConfiguration: {Subnet: [s-1]}\n"), 9, "AwsvpcConfiguration.Subnet", "unknown key"},
		{"strategy not a list", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        CapacityProviderStrategy: {CapacityProvider: FARGATE}\n"), 8, "CapacityProviderStrategy", "expected a list"},
		{"strategy without provider", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        CapacityProviderStrategy: [{Weight: 1}]\n"), 8, "CapacityProviderStrategy[0].CapacityProvider", "missing"},
		{"weight too big", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        CapacityProviderStrategy: [{CapacityProvider: F, Weight: 1001}]\n"), 8, "Weight", "0 to 1000"},
		{"negative base", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        CapacityProviderStrategy: [{CapacityProvider: F, Base: -1}]\n"), 8, "Base", "0 to 100000"},
		{"two bases", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        CapacityProviderStrategy: [{CapacityProvider: F, Base: 1}, {CapacityProvider: G, Base: 2}]\n"), 8, "", "only one capacity provider"},
		{"provider twice", props("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n        CapacityProviderStrategy: [{CapacityProvider: F}, {CapacityProvider: F}]\n"), 8, "", "listed twice"},
		{"hooks a mapping", ecsMinimal + "Hooks:\n  BeforeInstall: fn\n", 9, "Hooks", "single-key mappings"},
		{"unknown hook event", ecsMinimal + "Hooks:\n  - ApplicationStart: fn\n", 9, "Hooks[0]", `"ApplicationStart" is not a hook event of ECS`},
		{"reserved hook event", ecsMinimal + "Hooks:\n  - Install: fn\n", 9, "", "not a hook event"},
		{"hook event case", ecsMinimal + "Hooks:\n  - beforeinstall: fn\n", 9, "", `did you mean "BeforeInstall"`},
		{"duplicate hook", ecsMinimal + "Hooks:\n  - BeforeInstall: a\n  - AfterInstall: b\n  - BeforeInstall: c\n", 11, "Hooks[2].BeforeInstall", "first at line 9"},
		{"hook item with two events", ecsMinimal + "Hooks:\n  - BeforeInstall: a\n    AfterInstall: b\n", 9, "Hooks[0]", "found 2 keys"},
		{"hook item a string", ecsMinimal + "Hooks:\n  - BeforeInstall\n", 9, "Hooks[0]", "expected a mapping"},
		{"hook target empty", ecsMinimal + "Hooks:\n  - BeforeInstall: \"\"\n", 9, "Hooks[0].BeforeInstall", "must name a Lambda function"},
		{"hook target null", ecsMinimal + "Hooks:\n  - BeforeInstall:\n", 9, "", "expected a string, found null"},
		{"hook target bad name", ecsMinimal + "Hooks:\n  - BeforeInstall: \"my fn\"\n", 9, "", "not a Lambda function name"},
		{"hook target ftp", ecsMinimal + "Hooks:\n  - BeforeInstall: ftp://x/y\n", 9, "", "not a Lambda function name"},
		{"hook URL without host", ecsMinimal + "Hooks:\n  - BeforeInstall: \"https:///x\"\n", 9, "", "not a valid http(s) URL"},
		{"Lambda hook only for Lambda", ecsMinimal + "Hooks:\n  - AllowTraffic: fn\n", 9, "", "not a hook event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseECS([]byte(tc.doc))
			checkErr(t, err, tc.line, tc.path, tc.msg)
		})
	}
}

// checkErr asserts err is an *Error with the given line (if non-zero), a path
// containing path, and a message containing msg.
func checkErr(t *testing.T, err error, line int, path, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", msg)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	if line != 0 && e.Line != line {
		t.Errorf("line = %d, want %d (%v)", e.Line, line, err)
	}
	if !strings.Contains(e.Path, path) {
		t.Errorf("path = %q, want it to contain %q (%v)", e.Path, path, err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error = %q, want it to contain %q", err, msg)
	}
}

func TestECSValidate(t *testing.T) {
	good := func() *ECS {
		e, err := ParseECS([]byte(ecsGuideYAML))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name   string
		change func(e *ECS)
		path   string
	}{
		{"no logical name", func(e *ECS) { e.Service.LogicalName = "" }, "Resources[0]"},
		{"bad task definition", func(e *ECS) { e.Service.TaskDefinition = "x y" }, "TaskDefinition"},
		{"family mismatch", func(e *ECS) { e.Service.TaskDefinitionFamily = "other" }, "TaskDefinition"},
		{"no container", func(e *ECS) { e.Service.ContainerName = " " }, "ContainerName"},
		{"port", func(e *ECS) { e.Service.ContainerPort = 0 }, "ContainerPort"},
		{"network", func(e *ECS) { e.Service.NetworkConfiguration.AssignPublicIp = "" }, "AwsvpcConfiguration"},
		{"weight", func(e *ECS) { e.Service.CapacityProviderStrategy[0].Weight = -1 }, "CapacityProviderStrategy[0].Weight"},
		{"hook event", func(e *ECS) { e.Hooks[0].Event = "Install" }, "Hooks[0]"},
		{"hook twice", func(e *ECS) { e.Hooks[1].Event = e.Hooks[0].Event }, "Hooks[1]"},
		{"hook IsURL wrong", func(e *ECS) { e.Hooks[0].IsURL = true }, "Hooks[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := good()
			tc.change(e)
			checkErr(t, e.Validate(), 0, tc.path, "")
		})
	}
}
