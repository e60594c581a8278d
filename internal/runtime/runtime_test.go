package runtime

import "testing"

func TestTaskHealth(t *testing.T) {
	checked := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, m := range names {
				if m == n {
					return true
				}
			}
			return false
		}
	}
	c := func(name string, essential bool, health string) ContainerState {
		return ContainerState{Name: name, Essential: essential, Health: health}
	}
	for _, tc := range []struct {
		name       string
		containers []ContainerState
		hasCheck   func(string) bool
		want       string
	}{
		{"no checks", []ContainerState{c("a", true, HealthUnknown)}, checked(), HealthUnknown},
		{"all essential healthy", []ContainerState{c("a", true, HealthHealthy), c("b", true, HealthHealthy)}, checked("a", "b"), HealthHealthy},
		{"one essential unknown", []ContainerState{c("a", true, HealthHealthy), c("b", true, HealthUnknown)}, checked("a", "b"), HealthUnknown},
		{"one essential unhealthy wins", []ContainerState{c("a", true, HealthUnknown), c("b", true, HealthUnhealthy)}, checked("a", "b"), HealthUnhealthy},
		{"non-essential unhealthy ignored", []ContainerState{c("a", true, HealthHealthy), c("b", false, HealthUnhealthy)}, checked("a", "b"), HealthHealthy},
		{"essential without a check ignored", []ContainerState{c("a", true, HealthHealthy), c("b", true, HealthUnknown)}, checked("a"), HealthHealthy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TaskHealth(tc.containers, tc.hasCheck); got != tc.want {
				t.Errorf("TaskHealth = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestValidatePorts(t *testing.T) {
	base := func(pm PortMapping) TaskSpec {
		return TaskSpec{ID: "t", Containers: []ContainerSpec{{Name: "a", Essential: true, PortMappings: []PortMapping{pm}}}}
	}
	for _, tc := range []struct {
		pm PortMapping
		ok bool
	}{
		{PortMapping{ContainerPort: 80}, true},
		{PortMapping{ContainerPort: 80, HostPort: 8080, Protocol: "udp"}, true},
		{PortMapping{ContainerPort: 0}, false},
		{PortMapping{ContainerPort: 70000}, false},
		{PortMapping{ContainerPort: 80, Protocol: "sctp"}, false},
	} {
		if err := base(tc.pm).Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.pm, err, tc.ok)
		}
	}
}
