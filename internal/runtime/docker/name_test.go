package docker

import (
	"regexp"
	"testing"
)

func TestContainerName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	for _, tc := range []struct{ task, container, want string }{
		{"ts-abc-0", "web", "cutover-ts-abc-0-web"},
		{"arn:aws:ecs:task/1", "web", ""}, // cleaned, so hashed
	} {
		got := containerName(tc.task, tc.container)
		if !valid.MatchString(got) {
			t.Errorf("containerName(%q, %q) = %q is not a valid Docker name", tc.task, tc.container, got)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("containerName(%q, %q) = %q, want %q", tc.task, tc.container, got, tc.want)
		}
	}
	// Ids that clean up to the same text still get different names.
	if containerName("a/b", "web") == containerName("a:b", "web") {
		t.Error("distinct task ids share a container name")
	}
}
