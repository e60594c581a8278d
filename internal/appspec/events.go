package appspec

import "slices"

// Lifecycle event names as CodeDeploy spells them, in lifecycleEvents lists,
// AppSpec hooks and the agent's command names.
const (
	EventApplicationStop       = "ApplicationStop"
	EventDownloadBundle        = "DownloadBundle"
	EventBeforeInstall         = "BeforeInstall"
	EventInstall               = "Install"
	EventAfterInstall          = "AfterInstall"
	EventApplicationStart      = "ApplicationStart"
	EventValidateService       = "ValidateService"
	EventBeforeBlockTraffic    = "BeforeBlockTraffic"
	EventBlockTraffic          = "BlockTraffic"
	EventAfterBlockTraffic     = "AfterBlockTraffic"
	EventBeforeAllowTraffic    = "BeforeAllowTraffic"
	EventAllowTraffic          = "AllowTraffic"
	EventAfterAllowTraffic     = "AfterAllowTraffic"
	EventAllowTestTraffic      = "AllowTestTraffic"
	EventAfterAllowTestTraffic = "AfterAllowTestTraffic"
)

// The tables below come from the user guide's "Lifecycle event hook
// availability" table and run-order diagrams (reference-appspec-file-
// structure-hooks.md) and the per-target lifecycleEvents lists the public API
// reports; see reference/codedeploy-api.md §10.9 and §12.3. They are returned
// as fresh slices so no caller can change them for another.

// ECSEvents is the order of an ECS deployment's lifecycle events. Install,
// AllowTestTraffic and AllowTraffic are CodeDeploy's own steps; the others
// can run hook functions.
func ECSEvents() []string {
	return []string{
		EventBeforeInstall, EventInstall, EventAfterInstall,
		EventAllowTestTraffic, EventAfterAllowTestTraffic,
		EventBeforeAllowTraffic, EventAllowTraffic, EventAfterAllowTraffic,
	}
}

// ECSHookEvents are the ECS events an AppSpec may name in Hooks, in order.
func ECSHookEvents() []string {
	return []string{EventBeforeInstall, EventAfterInstall, EventAfterAllowTestTraffic, EventBeforeAllowTraffic, EventAfterAllowTraffic}
}

// LambdaEvents is the order of a Lambda deployment's lifecycle events.
func LambdaEvents() []string {
	return []string{EventBeforeAllowTraffic, EventAllowTraffic, EventAfterAllowTraffic}
}

// LambdaHookEvents are the Lambda events an AppSpec may name in Hooks.
func LambdaHookEvents() []string {
	return []string{EventBeforeAllowTraffic, EventAfterAllowTraffic}
}

var (
	blockTrafficEvents = []string{EventBeforeBlockTraffic, EventBlockTraffic, EventAfterBlockTraffic}
	installEvents      = []string{
		EventApplicationStop, EventDownloadBundle, EventBeforeInstall, EventInstall,
		EventAfterInstall, EventApplicationStart, EventValidateService,
	}
	allowTrafficEvents = []string{EventBeforeAllowTraffic, EventAllowTraffic, EventAfterAllowTraffic}
)

// ServerInPlaceEvents is the order of an in-place deployment (and of its
// rollback, which is an in-place deployment of the previous revision) on one
// instance. The six traffic events exist only when the deployment group has a
// load balancer.
func ServerInPlaceEvents(withLB bool) []string {
	if !withLB {
		return slices.Clone(installEvents)
	}
	return slices.Concat(blockTrafficEvents, installEvents, allowTrafficEvents)
}

// ServerBlueGreenReplacementEvents is what a blue/green deployment runs on
// each replacement (green) instance: install, then take traffic.
func ServerBlueGreenReplacementEvents() []string {
	return slices.Concat(installEvents, allowTrafficEvents)
}

// ServerBlueGreenOriginalEvents is what a blue/green deployment runs on each
// original (blue) instance once the replacements serve traffic.
func ServerBlueGreenOriginalEvents() []string {
	return slices.Clone(blockTrafficEvents)
}

// ServerBlueGreenRollbackOriginalEvents is what the rollback of a blue/green
// deployment runs on the original instances: they take traffic again.
func ServerBlueGreenRollbackOriginalEvents() []string {
	return slices.Clone(allowTrafficEvents)
}

// ServerBlueGreenRollbackReplacementEvents is what the rollback of a
// blue/green deployment runs on the replacement instances: they give up
// traffic.
func ServerBlueGreenRollbackReplacementEvents() []string {
	return slices.Clone(blockTrafficEvents)
}

// ServerScriptEvents are the nine events an EC2/on-premises AppSpec can run
// scripts in: the agent's DEFAULT_HOOK_MAPPING (command_poller.rb).
func ServerScriptEvents() []string {
	return []string{
		EventBeforeBlockTraffic, EventAfterBlockTraffic, EventApplicationStop,
		EventBeforeInstall, EventAfterInstall, EventApplicationStart,
		EventBeforeAllowTraffic, EventAfterAllowTraffic, EventValidateService,
	}
}

// ServerReservedEvents are the events CodeDeploy or the agent carry out
// themselves; no script can run in them.
func ServerReservedEvents() []string {
	return []string{EventDownloadBundle, EventInstall, EventBlockTraffic, EventAllowTraffic}
}

// DefaultLifecycleEvents is the agent's list of known events
// (codedeploy-local's DEFAULT_ORDERED_LIFECYCLE_EVENTS): the in-place order
// without the two service-side traffic steps. A deployment specification's
// AllPossibleLifecycleEvents is checked against it to find custom events.
func DefaultLifecycleEvents() []string {
	return []string{
		EventBeforeBlockTraffic, EventAfterBlockTraffic, EventApplicationStop,
		EventDownloadBundle, EventBeforeInstall, EventInstall, EventAfterInstall,
		EventApplicationStart, EventValidateService, EventBeforeAllowTraffic,
		EventAfterAllowTraffic,
	}
}

// IsServerScriptEvent reports whether an EC2/on-premises AppSpec may run
// scripts in event by default.
func IsServerScriptEvent(event string) bool { return slices.Contains(ServerScriptEvents(), event) }

// IsServerReservedEvent reports whether event is carried out by CodeDeploy
// itself and so can have no scripts.
func IsServerReservedEvent(event string) bool { return slices.Contains(ServerReservedEvents(), event) }
