package appspec

import (
	"errors"
	"strings"
	"testing"
)

// The user guide's Lambda example (reference-appspec-file-example.md), YAML
// and JSON.
const lambdaGuideYAML = `version: 0.0
Resources:
  - myLambdaFunction:
      Type: AWS::Lambda::Function
      Properties:
        Name: "myLambdaFunction"
        Alias: "myLambdaFunctionAlias"
        CurrentVersion: "1"
        TargetVersion: "2"
Hooks:
    - BeforeAllowTraffic: "LambdaFunctionToValidateBeforeTrafficShift"
    - AfterAllowTraffic: "LambdaFunctionToValidateAfterTrafficShift"
`

const lambdaGuideJSON = `{
 	"version": 0.0,
 	"Resources": [{
 		"myLambdaFunction": {
 			"Type": "AWS::Lambda::Function",
 			"Properties": {
 				"Name": "myLambdaFunction",
 				"Alias": "myLambdaFunctionAlias",
 				"CurrentVersion": "1",
 				"TargetVersion": "2"
 			}
 		}
 	}],
 	"Hooks": [{
 			"BeforeAllowTraffic": "LambdaFunctionToValidateBeforeTrafficShift"
      },
      {
 			"AfterAllowTraffic": "LambdaFunctionToValidateAfterTrafficShift"
 		}
 	]
 }`

// The structure section's lower-case spelling, as terraform-aws-lambda sends
// it: string version, compact JSON.
const lambdaLowerJSON = `{"resources":[{"fn":{"type":"AWS::Lambda::Function","properties":{"name":"fn","alias":"live","currentversion":"3","targetversion":"4"}}}],"hooks":[{"BeforeAllowTraffic":"check"}],"version":"0.0"}`

func TestParseLambdaAccepted(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want LambdaFunction
		hook int
	}{
		{"guide yaml", lambdaGuideYAML, LambdaFunction{"myLambdaFunction", "myLambdaFunction", "myLambdaFunctionAlias", "1", "2"}, 2},
		{"guide json", lambdaGuideJSON, LambdaFunction{"myLambdaFunction", "myLambdaFunction", "myLambdaFunctionAlias", "1", "2"}, 2},
		{"lower-case json, string version", lambdaLowerJSON, LambdaFunction{"fn", "fn", "live", "3", "4"}, 1},
		{"numeric versions", strings.NewReplacer(`"1"`, "1", `"2"`, "12").Replace(lambdaGuideYAML), LambdaFunction{"myLambdaFunction", "myLambdaFunction", "myLambdaFunctionAlias", "1", "12"}, 2},
		{"function ARN", strings.Replace(lambdaGuideYAML, `Name: "myLambdaFunction"`, "Name: arn:aws:lambda:eu-west-1:123456789012:function:myLambdaFunction", 1),
			LambdaFunction{"myLambdaFunction", "arn:aws:lambda:eu-west-1:123456789012:function:myLambdaFunction", "myLambdaFunctionAlias", "1", "2"}, 2},
		{"same versions parse", strings.Replace(lambdaGuideYAML, `TargetVersion: "2"`, `TargetVersion: "1"`, 1), LambdaFunction{"myLambdaFunction", "myLambdaFunction", "myLambdaFunctionAlias", "1", "1"}, 2},
		{"no hooks", strings.Split(lambdaGuideYAML, "Hooks:")[0], LambdaFunction{"myLambdaFunction", "myLambdaFunction", "myLambdaFunctionAlias", "1", "2"}, 0},
		{"URL hook", strings.Replace(lambdaGuideYAML, `"LambdaFunctionToValidateBeforeTrafficShift"`, "http://127.0.0.1:9000/hook", 1), LambdaFunction{"myLambdaFunction", "myLambdaFunction", "myLambdaFunctionAlias", "1", "2"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLambda([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if l.Function != tc.want {
				t.Errorf("function = %+v, want %+v", l.Function, tc.want)
			}
			if len(l.Hooks) != tc.hook {
				t.Errorf("hooks = %+v", l.Hooks)
			}
			if err := l.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestParseLambdaErrors(t *testing.T) {
	r := func(old, new string) string { return strings.Replace(lambdaGuideYAML, old, new, 1) }
	tests := []struct {
		name string
		doc  string
		line int
		path string
		msg  string
	}{
		{"ECS resource", r("AWS::Lambda::Function", "AWS::ECS::Service"), 4, "Type", "ECS AppSpec"},
		{"other type", r("AWS::Lambda::Function", "AWS::Lambda::Alias"), 4, "Type", "must be AWS::Lambda::Function"},
		{"missing version", r("version: 0.0\n", ""), 0, "version", "missing"},
		{"bad version", r("version: 0.0", "version: 0.1"), 1, "version", "must be 0.0"},
		{"unknown top key", lambdaGuideYAML + "files: []\n", 13, "files", "unknown key"},
		{"missing Name", r(`        Name: "myLambdaFunction"`+"\n", ""), 0, "Properties.Name", "missing"},
		{"missing Alias", r(`        Alias: "myLambdaFunctionAlias"`+"\n", ""), 0, "Properties.Alias", "missing"},
		{"missing CurrentVersion", r(`        CurrentVersion: "1"`+"\n", ""), 0, "Properties.CurrentVersion", "missing"},
		{"missing TargetVersion", r(`        TargetVersion: "2"`+"\n", ""), 0, "Properties.TargetVersion", "missing"},
		{"both spellings", r(`        Name: "myLambdaFunction"`, `        Name: "myLambdaFunction"`+"\n        name: other"), 7, "Properties.name", "duplicate key"},
		{"unknown property", r(`        Alias:`, "        Runtime: go\n        Alias:"), 7, "Properties.Runtime", "unknown property"},
		{"version zero", r(`CurrentVersion: "1"`, `CurrentVersion: "0"`), 8, "CurrentVersion", "positive integer"},
		{"version negative", r(`CurrentVersion: "1"`, `CurrentVersion: -1`), 8, "CurrentVersion", "positive integer"},
		{"version LATEST", r(`TargetVersion: "2"`, `TargetVersion: $LATEST`), 9, "TargetVersion", "positive integer"},
		{"version leading zero", r(`TargetVersion: "2"`, `TargetVersion: "02"`), 9, "TargetVersion", "positive integer"},
		{"version float", r(`TargetVersion: "2"`, `TargetVersion: 2.5`), 9, "TargetVersion", "published version number"},
		{"version list", r(`TargetVersion: "2"`, `TargetVersion: [2]`), 9, "TargetVersion", "published version number"},
		{"bad function name", r(`Name: "myLambdaFunction"`, `Name: "my function"`), 6, "Properties.Name", "not a Lambda function name"},
		{"empty name", r(`Name: "myLambdaFunction"`, `Name: ""`), 6, "Properties.Name", "must not be empty"},
		{"numeric alias", r(`Alias: "myLambdaFunctionAlias"`, `Alias: "12"`), 7, "Properties.Alias", "not all digits"},
		{"bad alias", r(`Alias: "myLambdaFunctionAlias"`, `Alias: "a.b"`), 7, "Properties.Alias", "alias name"},
		{"ECS hook event", r("BeforeAllowTraffic:", "AfterAllowTestTraffic:"), 11, "Hooks[0]", "not a hook event of Lambda"},
		{"duplicate hook", r("AfterAllowTraffic:", "BeforeAllowTraffic:"), 12, "Hooks[1].BeforeAllowTraffic", "more than one hook"},
		{"two resources", r("Resources:\n", "Resources:\n  - other: {Type: AWS::Lambda::Function}\n"), 3, "Resources", "found 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLambda([]byte(tc.doc))
			checkErr(t, err, tc.line, tc.path, tc.msg)
		})
	}
}

func TestLambdaCheckVersions(t *testing.T) {
	same := &Lambda{Function: LambdaFunction{LogicalName: "f", Name: "f", Alias: "live", CurrentVersion: "3", TargetVersion: "3"}}
	if err := same.CheckVersions(true); err != nil {
		t.Errorf("all-at-once with equal versions: %v", err)
	}
	err := same.CheckVersions(false)
	if err == nil || !strings.Contains(err.Error(), ErrSameVersion.Error()) {
		t.Errorf("canary with equal versions: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Path != "Resources[0].Properties.TargetVersion" {
		t.Errorf("error = %#v", err)
	}
	diff := &Lambda{Function: LambdaFunction{CurrentVersion: "3", TargetVersion: "4"}}
	if err := diff.CheckVersions(false); err != nil {
		t.Error(err)
	}
}

func TestLambdaValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(l *Lambda)
		path   string
	}{
		{"name", func(l *Lambda) { l.Function.Name = "" }, "Name"},
		{"alias", func(l *Lambda) { l.Function.Alias = "1" }, "Alias"},
		{"current", func(l *Lambda) { l.Function.CurrentVersion = "x" }, "CurrentVersion"},
		{"target", func(l *Lambda) { l.Function.TargetVersion = "0" }, "TargetVersion"},
		{"logical", func(l *Lambda) { l.Function.LogicalName = "" }, "Resources[0]"},
		{"hook", func(l *Lambda) { l.Hooks[0].Event = "BeforeInstall" }, "Hooks[0]"},
		{"hook target", func(l *Lambda) { l.Hooks[0].Target = "" }, "Hooks[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLambda([]byte(lambdaGuideYAML))
			if err != nil {
				t.Fatal(err)
			}
			tc.change(l)
			checkErr(t, l.Validate(), 0, tc.path, "")
		})
	}
}
