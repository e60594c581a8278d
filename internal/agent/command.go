package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/agent/bundle"
	"github.com/cutover/cutover/internal/agent/hooks"
	"github.com/cutover/cutover/internal/agent/protocol"
	"github.com/cutover/cutover/internal/agent/spec"
	"github.com/cutover/cutover/internal/appspec"
)

// Command names the agent runs itself; every other supported name is a
// script event of the AppSpec.
const (
	CommandDownloadBundle = "DownloadBundle"
	CommandInstall        = "Install"
)

// scriptEvents are the script commands AWS's agent maps one to one to
// AppSpec hooks (DEFAULT_HOOK_MAPPING).
var scriptEvents = []string{
	appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic, appspec.EventApplicationStop,
	appspec.EventBeforeInstall, appspec.EventAfterInstall, appspec.EventApplicationStart,
	appspec.EventBeforeAllowTraffic, appspec.EventAfterAllowTraffic, appspec.EventValidateService,
}

// Messages and codes AWS's agent sends.
const (
	msgSucceeded     = "Succeeded: "
	msgNoop          = "CompletedNoopCommand"
	msgAfterRestart  = "Failing in-progress lifecycle event after an agent restart."
	bundleFileName   = "bundle.tar"
	appSpecFallback1 = "appspec.yaml"
	appSpecFallback2 = "appspec.yml"
)

// Process runs one command end to end: specification, acknowledgement,
// execution, completion. Errors are reported to the service, not returned.
func (a *Agent) Process(ctx context.Context, cmd *protocol.HostCommand) {
	log := a.log.With("command", cmd.CommandName, "hostCommand", cmd.HostCommandIdentifier)
	cs := CommandState{HostCommandIdentifier: cmd.HostCommandIdentifier, CommandName: cmd.CommandName, StartedAt: a.clock.Now()}
	a.state.start(cs)
	finish := func(status string, d protocol.Diagnostics) {
		cs.FinishedAt, cs.Status, cs.ErrorCode, cs.Message = a.clock.Now(), status, d.ErrorCode, d.Message
		a.state.finish(cs)
	}
	complete := func(status string, d protocol.Diagnostics) {
		if err := a.client.PutHostCommandComplete(context.WithoutCancel(ctx), cmd.HostCommandIdentifier, status, d); err != nil {
			log.Error("PutHostCommandComplete failed", "err", err)
		}
		finish(status, d)
	}
	fail := func(err error) {
		log.Error("command failed", "err", err)
		complete(protocol.StatusFailed, diagnosticsOf(err, nil))
	}

	sp, err := a.specification(ctx, cmd)
	if err != nil {
		fail(err)
		return
	}
	cs.DeploymentID = sp.DeploymentID
	log = log.With("deployment", sp.DeploymentID)

	noop, err := a.isNoop(cmd.CommandName, sp)
	if err != nil {
		fail(err)
		return
	}
	status, err := a.client.PutHostCommandAcknowledgement(ctx, cmd.HostCommandIdentifier, noop)
	if err != nil {
		// Not acknowledged: the service hands the command out again.
		log.Error("PutHostCommandAcknowledgement failed", "err", err)
		finish("", protocol.Diagnostics{ErrorCode: hooks.CodeUnknownError, Message: err.Error()})
		return
	}
	switch status {
	case protocol.StatusSucceeded:
		log.Info("service says the command already succeeded; skipped")
		finish(status, protocol.Diagnostics{})
		return
	case protocol.StatusFailed:
		if noop {
			complete(protocol.StatusSucceeded, protocol.Diagnostics{Message: msgNoop})
			return
		}
		log.Info("service says the command already failed; skipped")
		finish(status, protocol.Diagnostics{})
		return
	}

	if err := a.track(sp.DeploymentID, cmd.HostCommandIdentifier); err != nil {
		fail(err)
		return
	}
	var out hooks.Log
	err = a.execute(ctx, cmd.CommandName, sp, &out)
	if errors.Is(err, hooks.ErrAbandoned) {
		// Left tracked: the next start reports it failed, as AWS's agent.
		log.Warn("command abandoned at shutdown", "err", err)
		finish("", protocol.Diagnostics{ErrorCode: hooks.CodeFailedAfterRestart, Message: err.Error()})
		return
	}
	if err != nil {
		log.Error("command failed", "err", err)
		complete(protocol.StatusFailed, diagnosticsOf(err, &out))
	} else {
		log.Info("command succeeded")
		complete(protocol.StatusSucceeded, protocol.Diagnostics{Message: msgSucceeded, Log: out.String()})
	}
	a.untrack(sp.DeploymentID)
}

func diagnosticsOf(err error, log *hooks.Log) protocol.Diagnostics {
	var se *hooks.ScriptError
	if errors.As(err, &se) {
		d := protocol.Diagnostics{ErrorCode: se.Code, ScriptName: se.Script, Message: se.Message}
		if log != nil {
			d.Log = log.String()
		}
		return d
	}
	return protocol.Diagnostics{ErrorCode: hooks.CodeUnknownError, Message: err.Error()}
}

func (a *Agent) specification(ctx context.Context, cmd *protocol.HostCommand) (*spec.Spec, error) {
	out, err := a.client.GetDeploymentSpecification(ctx, cmd.DeploymentExecutionID, a.hostID)
	if err != nil {
		return nil, err
	}
	if out.DeploymentSystem != spec.DeploymentSystem {
		return nil, fmt.Errorf("deployment system mismatch: %q, expected %q", out.DeploymentSystem, spec.DeploymentSystem)
	}
	if out.DeploymentSpecification == nil || out.DeploymentSpecification.GenericEnvelope == nil {
		return nil, errors.New("deployment specification missing from GetDeploymentSpecification's answer")
	}
	env := out.DeploymentSpecification.GenericEnvelope
	data, err := spec.Open(env.Format, env.Payload, a.specCA)
	if err != nil {
		return nil, err
	}
	return spec.Parse(data)
}

// isNoop says whether a command has nothing to do: a script event without
// scripts in the AppSpec it runs from. DownloadBundle and Install never
// are; unknown commands are (and then fail when executed).
func (a *Agent) isNoop(name string, sp *spec.Spec) (bool, error) {
	switch name {
	case CommandDownloadBundle, CommandInstall:
		return false, nil
	}
	if !slices.Contains(scriptEvents, name) {
		return true, nil
	}
	dir := a.hookDeploymentDir(name, sp)
	if dir == "" {
		return true, nil
	}
	as, err := a.loadAppSpec(a.files.archiveDir(dir), sp)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return len(as.Hook(name)) == 0, nil
}

// hookDeploymentDir picks the deployment whose archive an event's scripts
// come from (hook_executor.rb): ApplicationStop and the BlockTraffic events
// use the last successful deployment while the current one is not
// downloaded yet; a blue/green rollback swaps the traffic events to the
// most recent and last successful deployments.
func (a *Agent) hookDeploymentDir(event string, sp *spec.Spec) string {
	current := a.files.deploymentDir(sp.DeploymentGroupID, sp.DeploymentID)
	group := sp.DeploymentGroupID
	if sp.DeploymentCreator == "codeDeployRollback" && sp.DeploymentType == "BLUE_GREEN" {
		switch event {
		case appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic:
			return readPointer(a.files.mostRecentFile(group))
		case appspec.EventBeforeAllowTraffic, appspec.EventAfterAllowTraffic:
			return readPointer(a.files.lastSuccessfulFile(group))
		}
	}
	switch event {
	case appspec.EventApplicationStop, appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic:
		if _, err := os.Stat(a.files.archiveDir(current)); err != nil {
			return readPointer(a.files.lastSuccessfulFile(group))
		}
	}
	return current
}

// appSpecFile finds the AppSpec in an archive: the specification's name,
// then appspec.yaml, then appspec.yml.
func appSpecFile(archive string, sp *spec.Spec) (string, error) {
	for _, n := range []string{sp.AppSpecFilename, appSpecFallback1, appSpecFallback2} {
		p := filepath.Join(archive, filepath.Clean("/" + n)[1:])
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("The CodeDeploy agent did not find an AppSpec file within the unpacked revision directory at revision-relative path %q. The revision was unpacked to directory %q, and the AppSpec file was expected but not found at path %q: %w",
		sp.AppSpecFilename, archive, filepath.Join(archive, sp.AppSpecFilename), fs.ErrNotExist)
}

func (a *Agent) loadAppSpec(archive string, sp *spec.Spec) (*appspec.Server, error) {
	if _, err := os.Stat(archive); err != nil {
		return nil, fmt.Errorf("deployment archive %s: %w", archive, fs.ErrNotExist)
	}
	name, err := appSpecFile(archive, sp)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	as, err := appspec.ParseServerWithOptions(raw, appspec.ServerOptions{HostOS: "linux", AllPossibleLifecycleEvents: sp.AllPossibleLifecycleEvents})
	if err != nil {
		return nil, fmt.Errorf("invalid AppSpec %s: %w", filepath.Base(name), err)
	}
	for _, w := range as.Warnings {
		a.log.Warn("appspec: "+w, "file", name)
	}
	return as, nil
}

func (a *Agent) execute(ctx context.Context, name string, sp *spec.Spec, log *hooks.Log) error {
	switch name {
	case CommandDownloadBundle:
		return a.downloadBundle(ctx, sp)
	case CommandInstall:
		return a.installBundle(sp)
	}
	if !slices.Contains(scriptEvents, name) {
		return fmt.Errorf("Unsupported command type: %s", name)
	}
	return a.runEvent(ctx, name, sp, log)
}

func (a *Agent) downloadBundle(ctx context.Context, sp *spec.Spec) error {
	dir := a.files.deploymentDir(sp.DeploymentGroupID, sp.DeploymentID)
	if err := a.prune(sp.DeploymentGroupID, dir); err != nil {
		return err
	}
	archive := a.files.archiveDir(dir)
	if err := os.RemoveAll(archive); err != nil {
		return fmt.Errorf("remove old archive: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create deployment directory: %w", err)
	}
	bundleFile := filepath.Join(dir, bundleFileName)
	rev := sp.Revision
	switch {
	case rev.S3 != nil:
		if err := a.s3.Download(ctx, rev.S3, bundleFile); err != nil {
			return err
		}
		if err := bundle.Unpack(bundleFile, rev.S3.BundleType, archive); err != nil {
			return err
		}
	case rev.Local != nil && rev.Type == spec.RevisionLocalDirectory:
		if err := bundle.CopyDir(rev.Local.Location, archive); err != nil {
			return fmt.Errorf("local revision %s: %w", rev.Local.Location, err)
		}
	case rev.Local != nil:
		if err := bundle.CopyFile(rev.Local.Location, bundleFile); err != nil {
			return err
		}
		if err := bundle.Unpack(bundleFile, rev.Local.BundleType, archive); err != nil {
			return err
		}
	case rev.GitHub != nil:
		return errors.New("GitHub revisions are not supported: this agent cannot reach api.github.com; use an S3 revision")
	default:
		return fmt.Errorf("unsupported revision type %q", rev.Type)
	}
	if _, err := a.loadAppSpec(archive, sp); err != nil {
		return err
	}
	if err := writePointer(a.files.mostRecentFile(sp.DeploymentGroupID), dir); err != nil {
		return fmt.Errorf("record most recent install: %w", err)
	}
	return nil
}

func (a *Agent) prune(group, current string) error {
	removed, err := a.files.pruneRevisions(group, current, a.set.MaxRevisions)
	for _, r := range removed {
		a.log.Info("removed old revision", "dir", r)
	}
	if err != nil {
		return fmt.Errorf("remove old revisions: %w", err)
	}
	return nil
}

func (a *Agent) installBundle(sp *spec.Spec) error {
	dir := a.files.deploymentDir(sp.DeploymentGroupID, sp.DeploymentID)
	archive := a.files.archiveDir(dir)
	as, err := a.loadAppSpec(archive, sp)
	if err != nil {
		return err
	}
	if err := a.install.Install(sp.DeploymentGroupID, archive, as, sp.FileExistsBehavior); err != nil {
		return err
	}
	if err := writePointer(a.files.lastSuccessfulFile(sp.DeploymentGroupID), dir); err != nil {
		return fmt.Errorf("record last successful install: %w", err)
	}
	return nil
}

func (a *Agent) runEvent(ctx context.Context, event string, sp *spec.Spec, log *hooks.Log) error {
	dir := a.hookDeploymentDir(event, sp)
	if dir == "" {
		return nil
	}
	archive := a.files.archiveDir(dir)
	as, err := a.loadAppSpec(archive, sp)
	if errors.Is(err, fs.ErrNotExist) && dir != a.files.deploymentDir(sp.DeploymentGroupID, sp.DeploymentID) {
		// An earlier revision that is gone has nothing to run.
		return nil
	}
	if err != nil {
		return err
	}
	env := map[string]string{
		"LIFECYCLE_EVENT":       event,
		"DEPLOYMENT_ID":         sp.DeploymentID,
		"APPLICATION_NAME":      sp.ApplicationName,
		"DEPLOYMENT_GROUP_NAME": sp.DeploymentGroupName,
		"DEPLOYMENT_GROUP_ID":   sp.DeploymentGroupID,
	}
	switch r := sp.Revision; {
	case r.S3 != nil:
		env["BUNDLE_BUCKET"], env["BUNDLE_KEY"], env["BUNDLE_VERSION"], env["BUNDLE_ETAG"] = r.S3.Bucket, r.S3.Key, r.S3.Version, r.S3.ETag
	case r.GitHub != nil:
		env["BUNDLE_COMMIT"] = r.GitHub.CommitID
	default:
		env["BUNDLE_BUCKET"], env["BUNDLE_KEY"], env["BUNDLE_VERSION"], env["BUNDLE_ETAG"] = "", "", "", ""
	}
	return a.runner.Run(ctx, hooks.Event{
		Name: event, ArchiveDir: archive, Scripts: as.Hook(event), Env: env,
		ScriptLog: filepath.Join(dir, "logs", "scripts.log"),
	}, log)
}

// track records the running command under ongoing-deployment/, named by
// the deployment and holding the host command's identifier, as AWS's
// agent's DeploymentCommandTracker does.
func (a *Agent) track(deploymentID, commandID string) error {
	if err := os.MkdirAll(a.files.ongoingDir(), 0o755); err != nil {
		return fmt.Errorf("record running command: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(a.files.ongoingDir(), deploymentID), []byte(commandID)); err != nil {
		return fmt.Errorf("record running command: %w", err)
	}
	return nil
}

func (a *Agent) untrack(deploymentID string) {
	if err := os.Remove(filepath.Join(a.files.ongoingDir(), deploymentID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("could not clear running-command record", "err", err)
	}
}

// recover reports the commands a previous run left unfinished as failed
// (error code 7) and forgets them.
func (a *Agent) recover(ctx context.Context) {
	entries, err := os.ReadDir(a.files.ongoingDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		p := filepath.Join(a.files.ongoingDir(), e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		id := strings.TrimSpace(string(b))
		if id != "" {
			d := protocol.Diagnostics{ErrorCode: hooks.CodeFailedAfterRestart, Message: msgAfterRestart}
			if err := a.client.PutHostCommandComplete(ctx, id, protocol.StatusFailed, d); err != nil {
				// Kept for the next start.
				a.log.Error("could not report the interrupted command", "hostCommand", id, "err", err)
				continue
			}
			a.log.Warn("reported command interrupted by an agent restart as failed", "hostCommand", id, "deployment", e.Name())
			a.state.finish(CommandState{HostCommandIdentifier: id, DeploymentID: e.Name(), FinishedAt: a.clock.Now(),
				Status: protocol.StatusFailed, ErrorCode: hooks.CodeFailedAfterRestart, Message: msgAfterRestart})
		}
		_ = os.Remove(p)
	}
}
