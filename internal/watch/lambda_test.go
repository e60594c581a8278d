package watch

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// fakeLambda is one image function with versions and an alias.
type fakeLambda struct {
	image    string
	versions []string // image of version i+1
	alias    string   // version the alias points at
}

func (f *fakeLambda) FunctionImage(context.Context, string) (string, error) { return f.image, nil }

func (f *fakeLambda) UpdateImage(_ context.Context, _, image string) (string, error) {
	f.image = image
	for i, v := range f.versions {
		if v == image {
			return fmt.Sprint(i + 1), nil // Lambda publishes nothing new for unchanged code
		}
	}
	f.versions = append(f.versions, image)
	return fmt.Sprint(len(f.versions)), nil
}

func (f *fakeLambda) AliasVersion(context.Context, string, string) (string, error) {
	return f.alias, nil
}

func TestLambdaImageFunctionTarget(t *testing.T) {
	e := newEnv(t)
	fn := &fakeLambda{image: repo + ":old", versions: []string{repo + ":old"}, alias: "1"}
	e.svc.act.lambda = fn
	e.reg.push(repo, "latest", digest('a'))
	e.create(RuleInput{Name: "fn", Image: repo, PolicyExpression: "digest:latest",
		Target: Target{Kind: TargetCodeDeployLambda, Function: "hello", Alias: "live", Application: "app", DeploymentGroup: "fn-dg"}})
	st := e.check("fn")
	if e.cd.count() != 1 || st.Active == nil {
		t.Fatalf("state = %+v, deployments %d", st, e.cd.count())
	}
	spec := e.cd.deployments[0].appSpec
	for _, want := range []string{`"Type":"AWS::Lambda::Function"`, `"Name":"hello"`, `"Alias":"live"`, `"CurrentVersion":"1"`, `"TargetVersion":"2"`} {
		if !strings.Contains(spec, want) {
			t.Errorf("AppSpec %s lacks %s", spec, want)
		}
	}
	if fn.image != repo+"@"+digest('a') {
		t.Errorf("function image = %s, want pinned by digest", fn.image)
	}

	// A zip function is refused with a reason.
	fn.image = ""
	e.reg.push(repo, "latest", digest('b'))
	e.cd.deployments[0].status = "Succeeded"
	e.check("fn")
	evs := e.events("fn")
	if last := evs[len(evs)-1]; last.Decision != DecisionFailed || !strings.Contains(last.Reason, "not an image function") {
		t.Errorf("last event = %+v", last)
	}
}
