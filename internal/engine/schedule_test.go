package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/codedeploy"
)

func i32(v int32) *int32  { return &v }
func sp(s string) *string { return &s }

func TestSchedule(t *testing.T) {
	m := time.Minute
	linear := func(p, i int32) *codedeploy.TrafficRoutingConfig {
		return &codedeploy.TrafficRoutingConfig{Type: sp("TimeBasedLinear"), TimeBasedLinear: &codedeploy.TimeBasedLinear{LinearPercentage: i32(p), LinearInterval: i32(i)}}
	}
	canary := func(p, i int32) *codedeploy.TrafficRoutingConfig {
		return &codedeploy.TrafficRoutingConfig{Type: sp("TimeBasedCanary"), TimeBasedCanary: &codedeploy.TimeBasedCanary{CanaryPercentage: i32(p), CanaryInterval: i32(i)}}
	}
	for _, tc := range []struct {
		name string
		trc  *codedeploy.TrafficRoutingConfig
		want []Shift
		err  bool
	}{
		{"ECSAllAtOnce", &codedeploy.TrafficRoutingConfig{Type: sp("AllAtOnce")}, []Shift{{0, 100}}, false},
		{"no config", nil, []Shift{{0, 100}}, false},
		{"ECSCanary10Percent5Minutes", canary(10, 5), []Shift{{0, 10}, {5 * m, 100}}, false},
		{"ECSCanary10Percent15Minutes", canary(10, 15), []Shift{{0, 10}, {15 * m, 100}}, false},
		{"ECSLinear10PercentEvery1Minutes", linear(10, 1), []Shift{{0, 10}, {m, 20}, {2 * m, 30}, {3 * m, 40}, {4 * m, 50}, {5 * m, 60}, {6 * m, 70}, {7 * m, 80}, {8 * m, 90}, {9 * m, 100}}, false},
		{"ECSLinear10PercentEvery3Minutes", linear(10, 3), []Shift{{0, 10}, {3 * m, 20}, {6 * m, 30}, {9 * m, 40}, {12 * m, 50}, {15 * m, 60}, {18 * m, 70}, {21 * m, 80}, {24 * m, 90}, {27 * m, 100}}, false},
		{"custom linear 33/2", linear(33, 2), []Shift{{0, 33}, {2 * m, 66}, {4 * m, 99}, {6 * m, 100}}, false},
		{"custom linear 50/0", linear(50, 0), []Shift{{0, 50}, {0, 100}}, false},
		{"custom canary 99/1", canary(99, 1), []Shift{{0, 99}, {m, 100}}, false},
		{"custom canary 1/2880", canary(1, 2880), []Shift{{0, 1}, {2880 * m, 100}}, false},
		{"canary without values", &codedeploy.TrafficRoutingConfig{Type: sp("TimeBasedCanary")}, nil, true},
		{"linear 0%", linear(0, 1), nil, true},
		{"unknown type", &codedeploy.TrafficRoutingConfig{Type: sp("Gradual")}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Schedule(tc.trc)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// The predefined ECS configs as the CodeDeploy service stores them give the
// schedules AWS documents.
func TestSchedulePredefined(t *testing.T) {
	e := newEnv(t)
	for name, last := range map[string]time.Duration{
		"CodeDeployDefault.ECSAllAtOnce":                    0,
		"CodeDeployDefault.ECSCanary10Percent5Minutes":      5 * time.Minute,
		"CodeDeployDefault.ECSCanary10Percent15Minutes":     15 * time.Minute,
		"CodeDeployDefault.ECSLinear10PercentEvery1Minutes": 9 * time.Minute,
		"CodeDeployDefault.ECSLinear10PercentEvery3Minutes": 27 * time.Minute,
	} {
		cfg, err := e.cd.GetDeploymentConfig(e.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Schedule(cfg.TrafficRoutingConfig)
		if err != nil {
			t.Fatal(name, err)
		}
		if got := s[len(s)-1]; got.At != last || got.Weight != 100 {
			t.Errorf("%s: last shift %v, want 100%% at %v", name, got, last)
		}
	}
}
