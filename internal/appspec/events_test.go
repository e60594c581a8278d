package appspec

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEventTables(t *testing.T) {
	tests := []struct {
		name string
		got  []string
		want string
	}{
		{"ECS", ECSEvents(), "BeforeInstall Install AfterInstall AllowTestTraffic AfterAllowTestTraffic BeforeAllowTraffic AllowTraffic AfterAllowTraffic"},
		{"ECS hooks", ECSHookEvents(), "BeforeInstall AfterInstall AfterAllowTestTraffic BeforeAllowTraffic AfterAllowTraffic"},
		{"Lambda", LambdaEvents(), "BeforeAllowTraffic AllowTraffic AfterAllowTraffic"},
		{"Lambda hooks", LambdaHookEvents(), "BeforeAllowTraffic AfterAllowTraffic"},
		{"in-place without LB", ServerInPlaceEvents(false), "ApplicationStop DownloadBundle BeforeInstall Install AfterInstall ApplicationStart ValidateService"},
		{"in-place with LB", ServerInPlaceEvents(true), "BeforeBlockTraffic BlockTraffic AfterBlockTraffic ApplicationStop DownloadBundle BeforeInstall Install AfterInstall ApplicationStart ValidateService BeforeAllowTraffic AllowTraffic AfterAllowTraffic"},
		{"B/G replacement", ServerBlueGreenReplacementEvents(), "ApplicationStop DownloadBundle BeforeInstall Install AfterInstall ApplicationStart ValidateService BeforeAllowTraffic AllowTraffic AfterAllowTraffic"},
		{"B/G original", ServerBlueGreenOriginalEvents(), "BeforeBlockTraffic BlockTraffic AfterBlockTraffic"},
		{"B/G rollback original", ServerBlueGreenRollbackOriginalEvents(), "BeforeAllowTraffic AllowTraffic AfterAllowTraffic"},
		{"B/G rollback replacement", ServerBlueGreenRollbackReplacementEvents(), "BeforeBlockTraffic BlockTraffic AfterBlockTraffic"},
		{"agent defaults", DefaultLifecycleEvents(), "BeforeBlockTraffic AfterBlockTraffic ApplicationStop DownloadBundle BeforeInstall Install AfterInstall ApplicationStart ValidateService BeforeAllowTraffic AfterAllowTraffic"},
		{"script events", ServerScriptEvents(), "BeforeBlockTraffic AfterBlockTraffic ApplicationStop BeforeInstall AfterInstall ApplicationStart BeforeAllowTraffic AfterAllowTraffic ValidateService"},
		{"reserved", ServerReservedEvents(), "DownloadBundle Install BlockTraffic AllowTraffic"},
	}
	for _, tc := range tests {
		if got := strings.Join(tc.got, " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// The tables are handed out as copies: a caller changing one must not change
// what the next caller gets.
func TestEventTablesAreCopies(t *testing.T) {
	for _, f := range []func() []string{
		ECSEvents, LambdaEvents, ServerBlueGreenReplacementEvents, ServerBlueGreenOriginalEvents,
		ServerBlueGreenRollbackOriginalEvents, ServerBlueGreenRollbackReplacementEvents,
		DefaultLifecycleEvents, ServerScriptEvents, ServerReservedEvents,
		func() []string { return ServerInPlaceEvents(true) }, func() []string { return ServerInPlaceEvents(false) },
	} {
		a := f()
		want := slices.Clone(a)
		a[0] = "changed"
		if !reflect.DeepEqual(f(), want) {
			t.Fatalf("table changed through a returned slice: %v", f())
		}
	}
}

// Every scriptable event of every Server plan is one the agent runs scripts
// in, and every non-scriptable one is reserved.
func TestServerPlansUseKnownEvents(t *testing.T) {
	for _, plan := range [][]string{ServerInPlaceEvents(true), ServerBlueGreenReplacementEvents(), ServerBlueGreenOriginalEvents()} {
		for _, ev := range plan {
			if IsServerScriptEvent(ev) == IsServerReservedEvent(ev) {
				t.Errorf("%s is scriptable=%v reserved=%v", ev, IsServerScriptEvent(ev), IsServerReservedEvent(ev))
			}
		}
	}
}
