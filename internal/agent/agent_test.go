package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"archive/tar"

	"github.com/cutover/cutover/internal/agent/config"
	"github.com/cutover/cutover/internal/agent/protocol"
	"github.com/cutover/cutover/internal/clock"
)

var inPlace = []string{"ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService"}

type env struct {
	t    *testing.T
	svc  *fakeService
	s3   *s3Server
	root string
	dst  string // where files are installed
	out  string // hook scripts append their environment here
	a    *Agent
	n    int
}

func newEnv(t *testing.T, clk clock.Clock, mutate ...func(*config.Settings)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, svc: newFakeService(t), s3: newS3(t), root: filepath.Join(dir, "root"), dst: filepath.Join(dir, "srv"), out: filepath.Join(dir, "hooks.out")}
	if clk == nil {
		clk = clock.Real{}
	}
	e.a = testAgent(t, e.svc, e.s3, e.root, clk, mutate...)
	return e
}

// hookScript records the event and the variables AWS's agent sets.
func (e *env) hookScript() string {
	return "#!/bin/sh\necho \"$LIFECYCLE_EVENT $DEPLOYMENT_ID $APPLICATION_NAME $DEPLOYMENT_GROUP_NAME $DEPLOYMENT_GROUP_ID $BUNDLE_BUCKET $BUNDLE_KEY\" >> " + e.out + "\necho hello from $LIFECYCLE_EVENT\n"
}

func (e *env) appspec(extra string) string {
	return fmt.Sprintf(`version: 0.0
os: linux
files:
  - source: app
    destination: %s/app
  - source: config/app.conf
    destination: %s/etc
%s`, e.dst, e.dst, extra)
}

const allHooks = `hooks:
  ApplicationStop:
    - location: scripts/hook.sh
  BeforeInstall:
    - location: scripts/hook.sh
  AfterInstall:
    - location: scripts/hook.sh
  ApplicationStart:
    - location: scripts/hook.sh
      timeout: 60
  ValidateService:
    - location: scripts/hook.sh
`

// spec puts a bundle in S3 and returns a specification for it.
func (e *env) spec(id, bundleType string, bundle []byte, overrides map[string]any) map[string]any {
	key := "bundles/" + id + "." + bundleType
	tag := e.s3.put("rev-bucket/"+key, bundle)
	s := map[string]any{
		"DeploymentId": "arn:aws:codedeploy:us-east-1:123456789012:deployment/" + id, "DeploymentGroupId": "dg-1111",
		"DeploymentGroupName": "web", "ApplicationName": "shop",
		"Revision": map[string]any{"RevisionType": "S3", "S3Revision": map[string]any{
			"Bucket": "rev-bucket", "Key": key, "BundleType": bundleType, "ETag": strings.Trim(tag, `"`)}},
	}
	for k, v := range overrides {
		s[k] = v
	}
	return s
}

// deploy runs events for a specification and returns the completions by
// event.
func (e *env) deploy(spec map[string]any, events ...string) map[string]completion {
	e.t.Helper()
	exec := e.svc.deployment(spec)
	out := map[string]completion{}
	for _, ev := range events {
		e.n++
		out[ev] = runCommand(e.t, e.a, e.svc, exec, fmt.Sprintf("hc-%03d-%s", e.n, ev), ev)
		if out[ev].Status != "Succeeded" {
			break
		}
	}
	return out
}

func requireSucceeded(t *testing.T, got map[string]completion, events ...string) {
	t.Helper()
	for _, ev := range events {
		c, ok := got[ev]
		if !ok || c.Status != "Succeeded" || c.Diag.ErrorCode != 0 {
			t.Fatalf("%s: %+v", ev, c)
		}
	}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(name string) bool { _, err := os.Lstat(name); return err == nil }

func TestInPlaceDeploymentTwice(t *testing.T) {
	e := newEnv(t, nil)
	first := tarBundle(t, true,
		entry{name: "appspec.yml", body: e.appspec(allHooks + `permissions:
  - object: ` + e.dst + `/app
    pattern: "*.sh"
    mode: 750
    type: [file]
`)},
		entry{name: "scripts/hook.sh", body: e.hookScript(), mode: 0o755},
		entry{name: "app/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "app/index.html", body: "v1"},
		entry{name: "app/old.txt", body: "only in v1"},
		entry{name: "app/bin/run.sh", body: "#!/bin/sh\n"},
		entry{name: "config/app.conf", body: "conf v1"},
	)
	got := e.deploy(e.spec("d-FIRST0001", "tgz", first, nil), inPlace...)
	requireSucceeded(t, got, inPlace...)

	// ApplicationStop on a first deployment has nothing to run.
	stop := got["ApplicationStop"]
	if noop, _ := e.svc.ackNoop(stop.ID); !noop {
		t.Error("first ApplicationStop not acknowledged as a no-op")
	}
	if stop.Diag != (protocol.Diagnostics{Message: "Succeeded: "}) {
		t.Errorf("no-op diagnostics = %+v", stop.Diag)
	}
	if ops := e.svc.opsFor(stop.ID); !slices.Equal(ops, []string{"PutHostCommandAcknowledgement", "PutHostCommandComplete"}) {
		t.Errorf("calls for a command = %v", ops)
	}
	if noop, _ := e.svc.ackNoop(got["DownloadBundle"].ID); noop {
		t.Error("DownloadBundle acknowledged as a no-op")
	}
	wantLog := "LifecycleEvent - BeforeInstall\nScript - scripts/hook.sh\n[stdout]hello from BeforeInstall\n"
	if l := got["BeforeInstall"].Diag.Log; l != wantLog {
		t.Errorf("BeforeInstall log = %q, want %q", l, wantLog)
	}

	// Files, permissions, and the agent's bookkeeping.
	if s := read(t, e.dst+"/app/index.html"); s != "v1" {
		t.Errorf("index.html = %q", s)
	}
	if s := read(t, e.dst+"/etc/app.conf"); s != "conf v1" {
		t.Errorf("app.conf = %q", s)
	}
	if fi, _ := os.Stat(e.dst + "/app/bin/run.sh"); fi.Mode().Perm() != 0o750 {
		t.Errorf("run.sh mode = %v, want 0750 from permissions", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(e.dst + "/app/index.html"); fi.Mode().Perm() != 0o644 {
		t.Errorf("index.html mode = %v, pattern *.sh must not match it", fi.Mode().Perm())
	}
	dep1 := filepath.Join(e.root, "dg-1111", "d-FIRST0001")
	if !exists(filepath.Join(dep1, "deployment-archive", "appspec.yml")) || !exists(filepath.Join(dep1, "bundle.tar")) {
		t.Error("archive not unpacked under <root>/<group>/<deployment>/deployment-archive")
	}
	instr := filepath.Join(e.root, "deployment-instructions")
	if s := read(t, filepath.Join(instr, "dg-1111_last_successful_install")); s != dep1 {
		t.Errorf("last successful = %q", s)
	}
	if s := read(t, filepath.Join(instr, "dg-1111_most_recent_install")); s != dep1 {
		t.Errorf("most recent = %q", s)
	}
	cleanup := read(t, filepath.Join(instr, "dg-1111-cleanup"))
	for _, p := range []string{e.dst + "\n", e.dst + "/app\n", e.dst + "/app/old.txt\n", e.dst + "/etc/app.conf\n"} {
		if !strings.Contains(cleanup, p) {
			t.Errorf("cleanup file lacks %q:\n%s", p, cleanup)
		}
	}
	if !exists(filepath.Join(dep1, "logs", "scripts.log")) {
		t.Error("no logs/scripts.log")
	}
	if _, err := os.ReadDir(filepath.Join(e.root, "ongoing-deployment")); err == nil {
		if ents, _ := os.ReadDir(filepath.Join(e.root, "ongoing-deployment")); len(ents) != 0 {
			t.Errorf("ongoing-deployment not cleared: %v", ents)
		}
	}

	// The second deployment replaces the first's files: without the cleanup
	// file, DISALLOW would refuse index.html.
	second := tarBundle(t, false,
		entry{name: "appspec.yml", body: e.appspec(allHooks)},
		entry{name: "scripts/hook.sh", body: e.hookScript(), mode: 0o755},
		entry{name: "app/index.html", body: "v2"},
		entry{name: "app/new.txt", body: "only in v2"},
		entry{name: "config/app.conf", body: "conf v2"},
	)
	got = e.deploy(e.spec("d-SECOND002", "tar", second, nil), inPlace...)
	requireSucceeded(t, got, inPlace...)
	if noop, _ := e.svc.ackNoop(got["ApplicationStop"].ID); noop {
		t.Error("second ApplicationStop (from the last successful revision) acknowledged as a no-op")
	}
	if s := read(t, e.dst+"/app/index.html"); s != "v2" {
		t.Errorf("index.html = %q", s)
	}
	if exists(e.dst+"/app/old.txt") || exists(e.dst+"/app/bin") {
		t.Error("the first deployment's files were not removed")
	}
	if !exists(e.dst + "/app/new.txt") {
		t.Error("new.txt not installed")
	}

	lines := strings.Split(strings.TrimSpace(read(t, e.out)), "\n")
	want := []string{
		"BeforeInstall d-FIRST0001 shop web dg-1111 rev-bucket bundles/d-FIRST0001.tgz",
		"AfterInstall d-FIRST0001 shop web dg-1111 rev-bucket bundles/d-FIRST0001.tgz",
		"ApplicationStart d-FIRST0001 shop web dg-1111 rev-bucket bundles/d-FIRST0001.tgz",
		"ValidateService d-FIRST0001 shop web dg-1111 rev-bucket bundles/d-FIRST0001.tgz",
		// ApplicationStop runs the first revision's script for the second deployment.
		"ApplicationStop d-SECOND002 shop web dg-1111 rev-bucket bundles/d-SECOND002.tar",
		"BeforeInstall d-SECOND002 shop web dg-1111 rev-bucket bundles/d-SECOND002.tar",
		"AfterInstall d-SECOND002 shop web dg-1111 rev-bucket bundles/d-SECOND002.tar",
		"ApplicationStart d-SECOND002 shop web dg-1111 rev-bucket bundles/d-SECOND002.tar",
		"ValidateService d-SECOND002 shop web dg-1111 rev-bucket bundles/d-SECOND002.tar",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("hook runs:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	st, err := ReadState(filepath.Join(e.root, StateFileName))
	if err != nil || st.LastCommand == nil || st.LastCommand.CommandName != "ValidateService" || st.LastCommand.Status != "Succeeded" {
		t.Errorf("state file: %+v, %v", st, err)
	}
}

func TestFileExistsBehavior(t *testing.T) {
	for _, tc := range []struct {
		name       string
		deployment string // the specification's AgentOverrides value
		appspec    string // file_exists_behavior in the AppSpec
		wantStatus string
		wantBody   string
		wantMsg    string
	}{
		{"default disallows", "", "", "Failed", "existing", "a specified file already exists at this location"},
		{"disallow", "DISALLOW", "", "Failed", "existing", "a specified file already exists at this location"},
		{"overwrite", "OVERWRITE", "", "Succeeded", "bundled", ""},
		{"retain", "retain", "", "Succeeded", "existing", ""},
		{"appspec wins over the deployment", "DISALLOW", "OVERWRITE", "Succeeded", "bundled", ""},
		{"appspec retain wins", "OVERWRITE", "RETAIN", "Succeeded", "existing", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			os.MkdirAll(e.dst+"/app", 0o755)
			os.WriteFile(e.dst+"/app/index.html", []byte("existing"), 0o644)
			extra := ""
			if tc.appspec != "" {
				extra = "file_exists_behavior: " + tc.appspec + "\n"
			}
			b := tarBundle(t, true, entry{name: "appspec.yml", body: e.appspec(extra)},
				entry{name: "app/index.html", body: "bundled"}, entry{name: "config/app.conf", body: "c"})
			var over map[string]any
			if tc.deployment != "" {
				over = map[string]any{"AgentActionOverrides": map[string]any{"AgentOverrides": map[string]any{"FileExistsBehavior": tc.deployment}}}
			}
			got := e.deploy(e.spec("d-FEB000001", "tgz", b, over), "DownloadBundle", "Install")
			c := got["Install"]
			if c.Status != tc.wantStatus || !strings.Contains(c.Diag.Message, tc.wantMsg) {
				t.Fatalf("Install = %+v", c)
			}
			if tc.wantStatus == "Failed" {
				if c.Diag.ErrorCode != 5 || c.Diag.ScriptName != "" || c.Diag.Log != "" {
					t.Errorf("diagnostics = %+v", c.Diag)
				}
				if exists(e.dst + "/etc/app.conf") {
					t.Error("a refused install still copied files")
				}
			}
			if s := read(t, e.dst+"/app/index.html"); s != tc.wantBody {
				t.Errorf("index.html = %q, want %q", s, tc.wantBody)
			}
		})
	}
}

// scriptEnv sets up a deployment whose AfterInstall runs the given
// scripts, downloads it, and returns the AfterInstall completion.
func scriptCase(t *testing.T, e *env, hooks string, files ...entry) completion {
	t.Helper()
	entries := append([]entry{{name: "appspec.yml", body: "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n" + hooks}}, files...)
	got := e.deploy(e.spec("d-SCRIPT001", "tgz", tarBundle(t, true, entries...), nil), "DownloadBundle", "AfterInstall")
	requireSucceeded(t, got, "DownloadBundle")
	c := got["AfterInstall"]
	if n := strings.Count(strings.Join(e.svc.opsFor(c.ID), ","), "PutHostCommandComplete"); n != 1 {
		t.Errorf("PutHostCommandComplete sent %d times, want once", n)
	}
	return c
}

func TestScriptOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hooks string
		files []entry
		want  protocol.Diagnostics
		// lines are the log's script output, in any order (stdout and
		// stderr are read concurrently, as by AWS's agent)
		lines []string
	}{
		{
			name:  "failing script",
			hooks: "    - location: scripts/fail.sh\n",
			files: []entry{{name: "scripts/fail.sh", mode: 0o755, body: "#!/bin/sh\necho some stderr >&2\necho about to fail in $LIFECYCLE_EVENT\nexit 3\n"}},
			want: protocol.Diagnostics{ErrorCode: 4, ScriptName: "scripts/fail.sh",
				Message: "Script at specified location: scripts/fail.sh failed with exit code 3",
				Log:     "LifecycleEvent - AfterInstall\nScript - scripts/fail.sh\n"},
			lines: []string{"[stderr]some stderr", "[stdout]about to fail in AfterInstall"},
		},
		{
			name:  "missing script",
			hooks: "    - location: scripts/nope.sh\n",
			want: protocol.Diagnostics{ErrorCode: 1, ScriptName: "scripts/nope.sh",
				Message: "Script does not exist at specified location: scripts/nope.sh", Log: "LifecycleEvent - AfterInstall\n"},
		},
		{
			name:  "script that is a directory cannot be made executable",
			hooks: "    - location: scripts\n",
			files: []entry{{name: "scripts/", typ: tar.TypeDir, mode: 0o755}},
			want: protocol.Diagnostics{ErrorCode: 2, ScriptName: "scripts",
				Message: "Unable to set script at specified location: scripts as executable", Log: "LifecycleEvent - AfterInstall\n"},
		},
		{
			name:  "non-executable script is made executable and runs",
			hooks: "    - location: scripts/plain.sh\n",
			files: []entry{{name: "scripts/plain.sh", mode: 0o644, body: "#!/bin/sh\necho ran\n"}},
			want:  protocol.Diagnostics{Message: "Succeeded: ", Log: "LifecycleEvent - AfterInstall\nScript - scripts/plain.sh\n"},
			lines: []string{"[stdout]ran"},
		},
		{
			name:  "second script stops the event",
			hooks: "    - location: scripts/fail.sh\n    - location: scripts/never.sh\n",
			files: []entry{{name: "scripts/fail.sh", mode: 0o755, body: "#!/bin/sh\nexit 1\n"}},
			want: protocol.Diagnostics{ErrorCode: 4, ScriptName: "scripts/fail.sh",
				Message: "Script at specified location: scripts/fail.sh failed with exit code 1",
				Log:     "LifecycleEvent - AfterInstall\nScript - scripts/fail.sh\n"},
		},
		{
			name:  "runas",
			hooks: "    - location: scripts/who.sh\n      runas: nobody\n",
			files: []entry{{name: "scripts/who.sh", mode: 0o755, body: "#!/bin/sh\nid -un\nexit 2\n"}},
			want: protocol.Diagnostics{ErrorCode: 4, ScriptName: "scripts/who.sh",
				Message: "Script at specified location: scripts/who.sh run as user nobody failed with exit code 2",
				Log:     "LifecycleEvent - AfterInstall\nScript - scripts/who.sh\n"},
			lines: []string{"[stdout]nobody"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "runas" && os.Geteuid() != 0 {
				t.Skip("runas needs root")
			}
			e := newEnv(t, nil)
			if tc.name == "runas" {
				// nobody must be able to reach the script.
				os.Chmod(filepath.Dir(e.root), 0o755)
				os.Chmod(filepath.Dir(filepath.Dir(e.root)), 0o755)
			}
			c := scriptCase(t, e, tc.hooks, tc.files...)
			var body []string
			if rest, ok := strings.CutPrefix(c.Diag.Log, tc.want.Log); ok {
				if rest != "" {
					body = strings.Split(strings.TrimSuffix(rest, "\n"), "\n")
				}
				c.Diag.Log = tc.want.Log
			}
			if c.Diag != tc.want {
				t.Errorf("diagnostics = %+v\nwant %+v", c.Diag, tc.want)
			}
			slices.Sort(body)
			if !slices.Equal(body, tc.lines) {
				t.Errorf("log lines = %q, want %q", body, tc.lines)
			}
			wantStatus := "Failed"
			if tc.want.ErrorCode == 0 {
				wantStatus = "Succeeded"
			}
			if c.Status != wantStatus {
				t.Errorf("status = %s", c.Status)
			}
		})
	}
}

func TestScriptTimeout(t *testing.T) {
	clk := clock.NewFake(time.Now())
	e := newEnv(t, clk)
	b := tarBundle(t, true,
		entry{name: "appspec.yml", body: "version: 0.0\nos: linux\nhooks:\n  ValidateService:\n    - location: scripts/hang.sh\n      timeout: 30\n"},
		entry{name: "scripts/hang.sh", mode: 0o755, body: "#!/bin/sh\necho waiting\nsleep 600 &\nwait\n"})
	exec := e.svc.deployment(e.spec("d-HANG00001", "tgz", b, nil))
	if c := runCommand(t, e.a, e.svc, exec, "hc-dl", "DownloadBundle"); c.Status != "Succeeded" {
		t.Fatalf("DownloadBundle: %+v", c)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.a.Process(context.Background(), &protocol.HostCommand{HostCommandIdentifier: "hc-hang", HostIdentifier: testHostID, DeploymentExecutionID: exec, CommandName: "ValidateService"})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal("the script's timer never started")
	}
	// Let the script's first line through before it times out.
	scriptLog := filepath.Join(e.root, "dg-1111", "d-HANG00001", "logs", "scripts.log")
	for b, _ := os.ReadFile(scriptLog); !strings.Contains(string(b), "waiting"); b, _ = os.ReadFile(scriptLog) {
		select {
		case <-ctx.Done():
			t.Fatal("the script never wrote its line")
		case <-time.After(5 * time.Millisecond):
		}
	}
	clk.Advance(30 * time.Second)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the timed-out script was not killed")
	}
	c := <-e.svc.completed
	want := protocol.Diagnostics{ErrorCode: 3, ScriptName: "scripts/hang.sh",
		Message: "Script at specified location: scripts/hang.sh failed to complete in 30 seconds",
		Log:     "LifecycleEvent - ValidateService\nScript - scripts/hang.sh\n[stdout]waiting\n"}
	if c.Status != "Failed" || c.Diag != want {
		t.Errorf("got %s %+v\nwant %+v", c.Status, c.Diag, want)
	}
}

func TestBundleTypes(t *testing.T) {
	for _, bt := range []string{"tar", "tgz", "zip"} {
		t.Run(bt, func(t *testing.T) {
			e := newEnv(t, nil)
			entries := []entry{
				// A lone top-level directory holding the AppSpec is stripped.
				{name: "rev/appspec.yml", body: e.appspec("")},
				{name: "rev/app/index.html", body: "from " + bt},
				{name: "rev/app/link.html", typ: tar.TypeSymlink, link: "index.html"},
				{name: "rev/config/app.conf", body: "c"},
			}
			var b []byte
			switch bt {
			case "zip":
				b = zipBundle(t, entries...)
			default:
				b = tarBundle(t, bt == "tgz", entries...)
			}
			got := e.deploy(e.spec("d-TYPE00001", bt, b, nil), "DownloadBundle", "Install")
			requireSucceeded(t, got, "DownloadBundle", "Install")
			if s := read(t, e.dst+"/app/link.html"); s != "from "+bt {
				t.Errorf("link.html = %q", s)
			}
			if target, err := os.Readlink(e.dst + "/app/link.html"); err != nil || target != "index.html" {
				t.Errorf("link.html not installed as a link: %q %v", target, err)
			}
		})
	}
}

func TestDownloadFailures(t *testing.T) {
	e := newEnv(t, nil)
	good := tarBundle(t, true, entry{name: "appspec.yml", body: e.appspec("")})
	for _, tc := range []struct {
		name   string
		bundle []byte
		mutate func(map[string]any)
		want   string
	}{
		{"hostile archive", tarBundle(t, true, entry{name: "appspec.yml", body: e.appspec("")}, entry{name: "../../escape.txt", body: "x"}),
			nil, `refusing the bundle: entry "../../escape.txt" climbs out of the bundle with ../`},
		{"missing appspec", tarBundle(t, true, entry{name: "readme.txt", body: "x"}), nil,
			`did not find an AppSpec file within the unpacked revision directory at revision-relative path "appspec.yml"`},
		{"invalid appspec", tarBundle(t, true, entry{name: "appspec.yml", body: "version: \"0.0\"\nos: linux\n"}), nil, "invalid AppSpec appspec.yml"},
		{"AppSpecFilename honoured", tarBundle(t, true, entry{name: "deploy/spec.yml", body: e.appspec("")}, entry{name: "x", body: ""}),
			func(s map[string]any) { s["AppSpecFilename"] = "deploy/spec.yml" }, ""},
		{"ETag mismatch", good, func(s map[string]any) {
			s["Revision"].(map[string]any)["S3Revision"].(map[string]any)["ETag"] = "0123"
		}, `the object's ETag`},
		{"missing object", good, func(s map[string]any) {
			s["Revision"].(map[string]any)["S3Revision"].(map[string]any)["Key"] = "nope.tgz"
		}, "HTTP 404: NoSuchKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.spec("d-DL"+strings.ReplaceAll(tc.name, " ", ""), "tgz", tc.bundle, nil)
			if tc.mutate != nil {
				tc.mutate(s)
			}
			c := e.deploy(s, "DownloadBundle")["DownloadBundle"]
			if tc.want == "" {
				requireSucceeded(t, map[string]completion{"DownloadBundle": c}, "DownloadBundle")
				return
			}
			if c.Status != "Failed" || c.Diag.ErrorCode != 5 || !strings.Contains(c.Diag.Message, tc.want) {
				t.Errorf("got %s %+v, want a failure saying %q", c.Status, c.Diag, tc.want)
			}
		})
	}
	if exists(filepath.Join(filepath.Dir(e.root), "escape.txt")) || exists(filepath.Join(e.root, "dg-1111", "escape.txt")) {
		t.Error("hostile archive wrote outside its destination")
	}
}

func TestMaxRevisionsKeepsLastSuccessful(t *testing.T) {
	e := newEnv(t, nil, func(s *config.Settings) { s.MaxRevisions = 2 })
	b := tarBundle(t, true, entry{name: "appspec.yml", body: "version: 0.0\nos: linux\n"})
	requireSucceeded(t, e.deploy(e.spec("d-REV000001", "tgz", b, nil), "DownloadBundle", "Install"), "DownloadBundle", "Install")
	for i := 2; i <= 5; i++ {
		// Downloaded but never installed: d-REV000001 stays the last success.
		requireSucceeded(t, e.deploy(e.spec(fmt.Sprintf("d-REV00000%d", i), "tgz", b, nil), "DownloadBundle"), "DownloadBundle")
		ents, _ := os.ReadDir(filepath.Join(e.root, "dg-1111"))
		var names []string
		for _, x := range ents {
			names = append(names, x.Name())
		}
		want := []string{"d-REV000001", fmt.Sprintf("d-REV00000%d", i)}
		if !slices.Equal(names, want) {
			t.Fatalf("after deployment %d: %v, want %v", i, names, want)
		}
	}
}

func TestRestartReportsInterruptedCommand(t *testing.T) {
	clk := clock.NewFake(time.Now())
	e := newEnv(t, clk)
	b := tarBundle(t, true,
		entry{name: "appspec.yml", body: "version: 0.0\nos: linux\nhooks:\n  ApplicationStart:\n    - location: start.sh\n"},
		entry{name: "start.sh", mode: 0o755, body: "#!/bin/sh\nexec sleep 600\n"})
	exec := e.svc.deployment(e.spec("d-RESTART01", "tgz", b, nil))
	if c := runCommand(t, e.a, e.svc, exec, "hc-dl", "DownloadBundle"); c.Status != "Succeeded" {
		t.Fatalf("DownloadBundle: %+v", c)
	}
	// The agent stops while the script runs: the script is killed and the
	// command left recorded, unreported.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.a.Process(ctx, &protocol.HostCommand{HostCommandIdentifier: "hc-start", HostIdentifier: testHostID, DeploymentExecutionID: exec, CommandName: "ApplicationStart"})
	}()
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clk.BlockUntil(wctx, 1); err != nil {
		t.Fatal("script never started")
	}
	stop()
	go func() {
		// The kill grace timer, should SIGTERM not suffice.
		for clk.BlockUntil(wctx, 1) == nil && wctx.Err() == nil {
			clk.Advance(time.Minute)
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	<-done
	if len(e.svc.completed) != 0 {
		t.Fatalf("an abandoned command was reported: %+v", <-e.svc.completed)
	}
	if s := read(t, filepath.Join(e.root, "ongoing-deployment", "d-RESTART01")); s != "hc-start" {
		t.Fatalf("ongoing record = %q", s)
	}

	// A new agent on the same root reports it failed with error code 7.
	a2 := testAgent(t, e.svc, e.s3, e.root, clock.Real{})
	rctx, rstop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a2.Run(rctx) }()
	var c completion
	select {
	case c = <-e.svc.completed:
	case <-time.After(5 * time.Second):
		t.Fatal("no report after restart")
	}
	// Polling starts once recovery is done.
	for len(e.svc.polled) > 0 {
		<-e.svc.polled
	}
	<-e.svc.polled
	rstop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	want := protocol.Diagnostics{ErrorCode: 7, Message: "Failing in-progress lifecycle event after an agent restart."}
	if c.ID != "hc-start" || c.Status != "Failed" || c.Diag != want {
		t.Errorf("got %+v", c)
	}
	if exists(filepath.Join(e.root, "ongoing-deployment", "d-RESTART01")) {
		t.Error("ongoing record kept after it was reported")
	}
}

// TestPollLoop runs the agent's own loop against the service for a whole
// in-place deployment: the commands are handed out one at a time as the
// previous one completes.
func TestPollLoop(t *testing.T) {
	e := newEnv(t, nil)
	b := tarBundle(t, true, entry{name: "appspec.yml", body: e.appspec(allHooks)},
		entry{name: "scripts/hook.sh", body: e.hookScript(), mode: 0o755},
		entry{name: "app/index.html", body: "polled"}, entry{name: "config/app.conf", body: "c"})
	exec := e.svc.deployment(e.spec("d-POLL00001", "tgz", b, nil))
	for i, ev := range inPlace {
		e.svc.enqueue(&protocol.HostCommand{HostCommandIdentifier: fmt.Sprintf("hc-%d-%s", i, ev), HostIdentifier: testHostID,
			DeploymentExecutionID: exec, CommandName: ev, Nonce: int64(i)})
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.a.Run(ctx) }()
	for range inPlace {
		select {
		case c := <-e.svc.completed:
			if c.Status != "Succeeded" {
				t.Fatalf("%s: %+v", c.ID, c)
			}
		case <-time.After(8 * time.Second):
			t.Fatal("deployment did not finish")
		}
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if s := read(t, e.dst+"/app/index.html"); s != "polled" {
		t.Errorf("index.html = %q", s)
	}
	st, err := ReadState(filepath.Join(e.root, StateFileName))
	if err != nil || st.LastPollOKAt.IsZero() || st.PID != 0 || st.StoppedAt.IsZero() || st.HostIdentifier != testHostID {
		t.Errorf("state = %+v, %v", st, err)
	}
}

func TestPollRejectsForeignHostCommand(t *testing.T) {
	e := newEnv(t, nil)
	e.svc.enqueue(&protocol.HostCommand{HostCommandIdentifier: "hc-x", HostIdentifier: "arn:aws:iam::123456789012:user/other", DeploymentExecutionID: "a/b/c/d", CommandName: "Install"})
	err := e.a.pollOnce(context.Background(), context.Background())
	if err == nil || !strings.Contains(err.Error(), "Host Identifier mismatch") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	e := newEnv(t, nil)
	b := tarBundle(t, true, entry{name: "appspec.yml", body: "version: 0.0\nos: linux\n"})
	exec := e.svc.deployment(e.spec("d-UNKNOWN01", "tgz", b, nil))
	c := runCommand(t, e.a, e.svc, exec, "hc-u", "BlockTraffic")
	if c.Status != "Failed" || c.Diag.ErrorCode != 5 || c.Diag.Message != "Unsupported command type: BlockTraffic" {
		t.Errorf("got %+v", c)
	}
	if noop, _ := e.svc.ackNoop("hc-u"); !noop {
		t.Error("unknown command not acknowledged as a no-op")
	}
}

func TestAcknowledgementStatusSkips(t *testing.T) {
	e := newEnv(t, nil)
	b := tarBundle(t, true, entry{name: "appspec.yml", body: "version: 0.0\nos: linux\n"})
	exec := e.svc.deployment(e.spec("d-ACK000001", "tgz", b, nil))
	e.svc.ackStatus = "Failed"
	// A no-op the service already failed is completed as succeeded.
	c := runCommand(t, e.a, e.svc, exec, "hc-noop", "ApplicationStop")
	if c.Status != "Succeeded" || c.Diag.Message != "CompletedNoopCommand" {
		t.Errorf("got %+v", c)
	}
	e.svc.ackStatus = "Succeeded"
	e.a.Process(context.Background(), &protocol.HostCommand{HostCommandIdentifier: "hc-done", HostIdentifier: testHostID, DeploymentExecutionID: exec, CommandName: "DownloadBundle"})
	if len(e.svc.completed) != 0 || exists(filepath.Join(e.root, "dg-1111", "d-ACK000001")) {
		t.Error("a command the service says succeeded was run")
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		interval  time.Duration
		n         int
		throttled bool
		want      time.Duration
	}{
		{time.Second, 1, false, time.Second},
		{time.Second, 2, false, 2 * time.Second},
		{time.Second, 4, false, 8 * time.Second},
		{time.Second, 1, true, 4 * time.Second},
		{10 * time.Millisecond, 1, false, time.Second},
		{30 * time.Second, 3, false, 90 * time.Second},
		{time.Second, 50, true, 90 * time.Second},
	} {
		if got := Backoff(tc.interval, tc.n, tc.throttled); got != tc.want {
			t.Errorf("Backoff(%v, %d, %v) = %v, want %v", tc.interval, tc.n, tc.throttled, got, tc.want)
		}
	}
}
