package appspec

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The user guide's EC2/on-premises example (reference-appspec-file-example.md).
const serverGuide = `version: 0.0
os: linux
files:
  - source: Config/config.txt
    destination: /webapps/Config
  - source: source
    destination: /webapps/myApp
hooks:
  BeforeInstall:
    - location: Scripts/UnzipResourceBundle.sh
    - location: Scripts/UnzipDataBundle.sh
  AfterInstall:
    - location: Scripts/RunResourceTests.sh
      timeout: 180
  ApplicationStart:
    - location: Scripts/RunFunctionalTests.sh
      timeout: 3600
  ValidateService:
    - location: Scripts/MonitorService.sh
      timeout: 3600
      runas: codedeployuser
`

// The permissions section's example with acls and context (user guide).
const serverPermissions = `version: 0.0
os: linux
files:
  - source: /
    destination: /var/www/html/WordPress
file_exists_behavior: OVERWRITE
permissions:
  - object: /var/www/html/WordPress
    pattern: "**"
    except: [/var/www/html/WordPress/ReadMe.txt]
    owner: bob
    group: writers
    mode: 644
    acls:
      - u:mary:rw
      - u:sam:rw
      - m::rw
    context:
      user: unconfined_u
      type: httpd_sys_content_t
      range: s0
    type:
      - file
  - object: /tmp/my-app
    pattern: "*-3.txt"
    owner: adm
    group: wheel
    mode: 4755
    type: [file]
`

func TestParseServerGuide(t *testing.T) {
	s, err := ParseServer([]byte(serverGuide))
	if err != nil {
		t.Fatal(err)
	}
	if s.OS != "linux" || len(s.Files) != 2 || s.Files[1] != (File{"source", "/webapps/myApp"}) {
		t.Errorf("server = %+v", s)
	}
	wantOrder := []string{"BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"}
	if !reflect.DeepEqual(s.HookOrder, wantOrder) {
		t.Errorf("order = %v", s.HookOrder)
	}
	if got := s.Hook("BeforeInstall"); len(got) != 2 || got[0].TimeoutSeconds != 0 || got[0].Timeout().Seconds() != DefaultScriptTimeout || got[1].Location != "Scripts/UnzipDataBundle.sh" {
		t.Errorf("BeforeInstall = %+v", got)
	}
	if got := s.Hook("ValidateService")[0]; got.Runas != "codedeployuser" || got.Timeout().Hours() != 1 {
		t.Errorf("ValidateService = %+v", got)
	}
	if s.FileExistsBehavior != "" || len(s.Warnings) != 0 {
		t.Errorf("%q %v", s.FileExistsBehavior, s.Warnings)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseServerPermissions(t *testing.T) {
	s, err := ParseServer([]byte(serverPermissions))
	if err != nil {
		t.Fatal(err)
	}
	if s.FileExistsBehavior != FileExistsOverwrite || len(s.Permissions) != 2 {
		t.Fatalf("%+v", s)
	}
	p := s.Permissions[0]
	if p.Pattern != "**" || p.Owner != "bob" || p.Group != "writers" || p.Mode.Text != "644" || p.Mode.FileMode() != 0o644 {
		t.Errorf("%+v", p)
	}
	var acls []string
	for _, a := range p.ACLs {
		acls = append(acls, a.String())
	}
	if want := []string{"user:mary:rw-", "user:sam:rw-", "mask::rw-"}; !reflect.DeepEqual(acls, want) {
		t.Errorf("acls = %v", acls)
	}
	if p.Context.User != "unconfined_u" || p.Context.Type != "httpd_sys_content_t" || p.Context.Range.String() != "s0" {
		t.Errorf("context = %+v", p.Context)
	}
	if !reflect.DeepEqual(p.Types, []string{"file"}) || !reflect.DeepEqual(p.Except, []string{"/var/www/html/WordPress/ReadMe.txt"}) {
		t.Errorf("%+v", p)
	}
	q := s.Permissions[1]
	if q.Pattern != "*-3.txt" || q.Mode.FileMode() != 0o755|fs.ModeSetuid {
		t.Errorf("%+v mode %v", q, q.Mode.FileMode())
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseServerAccepted(t *testing.T) {
	base := "version: 0.0\nos: linux\n"
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, s *Server)
	}{
		{"minimal", base, nil},
		{"integer version (Ruby: 0 == 0.0)", "version: 0\nos: linux\n", nil},
		{"windows", "version: 0.0\nos: windows\nfiles:\n  - source: \\\n    destination: c:\\inetpub\\app\n", func(t *testing.T, s *Server) {
			if s.OS != "windows" || s.Files[0].Destination != `c:\inetpub\app` {
				t.Errorf("%+v", s)
			}
		}},
		{"JSON", `{"version": 0.0, "os": "linux", "hooks": {"AfterInstall": [{"location": "a.sh", "timeout": 60}]}}`, func(t *testing.T, s *Server) {
			if s.Hook("AfterInstall")[0].TimeoutSeconds != 60 {
				t.Errorf("%+v", s.Hooks)
			}
		}},
		{"file_exists_behavior any case", base + "file_exists_behavior: retain\n", func(t *testing.T, s *Server) {
			if s.FileExistsBehavior != FileExistsRetain {
				t.Errorf("%q", s.FileExistsBehavior)
			}
		}},
		{"timeout as string and float", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: \"300\"\n    - location: b.sh\n      timeout: 300.0\n", func(t *testing.T, s *Server) {
			if s.Hook("AfterInstall")[0].TimeoutSeconds != 300 || s.Hook("AfterInstall")[1].TimeoutSeconds != 300 {
				t.Errorf("%+v", s.Hooks)
			}
		}},
		{"scripts without timeout do not add up (guide example)", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n    - location: b.sh\n      timeout: 3600\n", nil},
		{"timeouts add up to exactly 3600", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: 1800\n    - location: b.sh\n      timeout: 1800\n", nil},
		{"sudo and runas", base + "hooks:\n  ApplicationStart:\n    - location: start.sh\n      runas: \" deploy \"\n      sudo: true\n", func(t *testing.T, s *Server) {
			if sc := s.Hook("ApplicationStart")[0]; sc.Runas != "deploy" || !sc.Sudo {
				t.Errorf("%+v", sc)
			}
		}},
		{"location is stripped", base + "hooks:\n  AfterInstall:\n    - location: \" scripts/a.sh \"\n", func(t *testing.T, s *Server) {
			if s.Hook("AfterInstall")[0].Location != "scripts/a.sh" {
				t.Errorf("%q", s.Hook("AfterInstall")[0].Location)
			}
		}},
		{"empty hook list", base + "hooks:\n  AfterInstall: []\n", nil},
		{"null sections", base + "files:\npermissions:\nhooks:\n", nil},
		{"every script event", base + "hooks:\n" + func() string {
			var b strings.Builder
			for _, ev := range ServerScriptEvents() {
				b.WriteString("  " + ev + ":\n    - location: s/" + ev + ".sh\n      timeout: 60\n")
			}
			return b.String()
		}(), func(t *testing.T, s *Server) {
			if len(s.Hooks) != 9 {
				t.Errorf("%d hooks", len(s.Hooks))
			}
		}},
		{"leading slash source is bundle-relative", base + "files:\n  - source: /config/app.conf\n    destination: /etc/app\n", nil},
		{"dot sources", base + "files:\n  - source: .\n    destination: /srv\n  - source: ./a/../b\n    destination: /srv/b\n", nil},
		{"unknown keys are warnings", base + "Hooks: {}\nfiles:\n  - source: /\n    destination: /srv\n    overwrite: true\n    file_exists_behavior: OVERWRITE\nhooks:\n  AfterInstall:\n    - location: a.sh\n      timout: 5\n", func(t *testing.T, s *Server) {
			w := strings.Join(s.Warnings, "\n")
			for _, want := range []string{`Hooks: unknown key ignored (did you mean "hooks"?)`, "files[0].overwrite", "files[0].file_exists_behavior: ignored", `timout: unknown key ignored (did you mean "timeout"?)`} {
				if !strings.Contains(w, want) {
					t.Errorf("warnings %q lack %q", w, want)
				}
			}
		}},
		{"context name key (agent) and range with categories", base + "permissions:\n  - object: /srv\n    context: {name: system_u, type: t, range: \"s0-s2:c3,c0.c2,c10\"}\n", func(t *testing.T, s *Server) {
			c := s.Permissions[0].Context
			if c.User != "system_u" || c.Range.String() != "s0-s2:c0.c3,c10" || c.Range.Low != 0 || c.Range.High != 2 {
				t.Errorf("%+v %v", c, c.Range)
			}
		}},
		{"mode as string and short", base + "permissions:\n  - object: /srv\n    mode: \"0640\"\n  - object: /srv/x\n    mode: 7\n", func(t *testing.T, s *Server) {
			if s.Permissions[0].Mode.Text != "0640" || s.Permissions[1].Mode.Text != "007" || s.Permissions[1].Mode.FileMode() != 0o007 {
				t.Errorf("%+v %+v", s.Permissions[0].Mode, s.Permissions[1].Mode)
			}
		}},
		{"relative permission object warns", base + "permissions:\n  - object: srv\n", func(t *testing.T, s *Server) {
			if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "not absolute") {
				t.Errorf("%v", s.Warnings)
			}
		}},
		{"empty type list", base + "permissions:\n  - object: /srv\n    type: []\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseServer([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestParseServerErrors(t *testing.T) {
	base := "version: 0.0\nos: linux\n"
	hook := func(body string) string { return base + "hooks:\n  AfterInstall:\n" + body }
	perm := func(body string) string { return base + "permissions:\n  - object: /srv\n" + body }
	tests := []struct {
		name string
		doc  string
		line int
		path string
		msg  string
	}{
		{"empty", "", 0, "", "empty"},
		{"scalar document", "hello\n", 1, "", "mapping"},
		{"missing version", "os: linux\n", 0, "version", "missing"},
		{"quoted version", "version: \"0.0\"\nos: linux\n", 1, "version", "write it unquoted"},
		{"version 1", "version: 1\nos: linux\n", 1, "version", "must be the number 0.0"},
		{"JSON string version", `{"version": "0.0", "os": "linux"}`, 1, "version", "unquoted"},
		{"missing os", "version: 0.0\n", 0, "os", "missing"},
		{"os case", "version: 0.0\nos: Linux\n", 2, "os", `did you mean "linux"`},
		{"os other", "version: 0.0\nos: macos\n", 2, "os", "linux or windows"},
		{"duplicate key", base + "os: windows\n", 3, "os", "duplicate key (first given at line 2)"},
		{"files a mapping", base + "files: {source: /, destination: /srv}\n", 3, "files", "expected a list"},
		{"file without source", base + "files:\n  - destination: /srv\n", 4, "files[0].source", "missing"},
		{"file without destination", base + "files:\n  - source: app\n", 4, "files[0].destination", "missing"},
		{"file null source", base + "files:\n  - source:\n    destination: /srv\n", 4, "files[0].source", "missing"},
		{"relative destination", base + "files:\n  - source: app\n    destination: srv/app\n", 5, "files[0].destination", "not an absolute path"},
		{"source escapes", base + "files:\n  - source: ../../etc\n    destination: /srv\n", 4, "files[0].source", "out of the bundle"},
		{"source escapes after clean", base + "files:\n  - source: a/../../b\n    destination: /srv\n", 4, "files[0].source", "out of the bundle"},
		{"source escapes from slash", base + "files:\n  - source: /..\n    destination: /srv\n", 4, "files[0].source", "out of the bundle"},
		{"windows source escapes", "version: 0.0\nos: windows\nfiles:\n  - source: a\\..\\..\\b\n    destination: c:\\x\n", 4, "files[0].source", "out of the bundle"},
		{"windows relative destination", "version: 0.0\nos: windows\nfiles:\n  - source: a\n    destination: x\\y\n", 5, "files[0].destination", "fully qualified Windows path"},
		{"file entry a string", base + "files:\n  - app\n", 4, "files[0]", "expected a mapping"},
		{"bad file_exists_behavior", base + "file_exists_behavior: REPLACE\n", 3, "file_exists_behavior", "DISALLOW, OVERWRITE or RETAIN"},
		{"file_exists_behavior list", base + "file_exists_behavior: [OVERWRITE]\n", 3, "file_exists_behavior", "expected a string"},
		{"hooks a list (ECS form)", base + "hooks:\n  - AfterInstall: fn\n", 4, "hooks", "ECS/Lambda form"},
		{"hooks a string", base + "hooks: x\n", 3, "hooks", "expected a mapping"},
		{"reserved Install", base + "hooks:\n  Install:\n    - location: a.sh\n", 4, "hooks.Install", "cannot run scripts; use AfterInstall"},
		{"reserved DownloadBundle", base + "hooks:\n  DownloadBundle: []\n", 4, "hooks.DownloadBundle", "cannot run scripts"},
		{"reserved BlockTraffic", base + "hooks:\n  BlockTraffic: []\n", 4, "hooks.BlockTraffic", "BeforeBlockTraffic or AfterBlockTraffic"},
		{"reserved AllowTraffic", base + "hooks:\n  AllowTraffic: []\n", 4, "hooks.AllowTraffic", "cannot run scripts"},
		{"unknown event", base + "hooks:\n  AfterInstal:\n    - location: a.sh\n", 4, "hooks.AfterInstal", `not a lifecycle event of this deployment (did you mean "AfterInstall"?)`},
		{"event case", base + "hooks:\n  afterinstall: []\n", 4, "hooks.afterinstall", `did you mean "AfterInstall"`},
		{"ECS-only event", base + "hooks:\n  AfterAllowTestTraffic: []\n", 4, "", "not a lifecycle event"},
		{"event value null", base + "hooks:\n  AfterInstall:\n", 4, "hooks.AfterInstall", "expected a list of scripts"},
		{"event value a string", base + "hooks:\n  AfterInstall: a.sh\n", 4, "hooks.AfterInstall", "expected a list of scripts"},
		{"duplicate event", base + "hooks:\n  AfterInstall: []\n  AfterInstall: []\n", 5, "hooks.AfterInstall", "duplicate key"},
		{"script a string", hook("    - a.sh\n"), 5, "hooks.AfterInstall[0]", "expected a mapping"},
		{"script without location", hook("    - timeout: 5\n"), 5, "hooks.AfterInstall[0].location", "missing"},
		{"null location", hook("    - location:\n"), 5, "hooks.AfterInstall[0].location", "missing"},
		{"blank location", hook("    - location: \"  \"\n"), 5, "location", "must not be empty"},
		{"location escapes", hook("    - location: ../x.sh\n"), 5, "location", "out of the bundle"},
		{"location is root", hook("    - location: /\n"), 5, "location", "bundle root"},
		{"location a list", hook("    - location: [a.sh]\n"), 5, "location", "expected a string"},
		{"timeout zero", hook("    - location: a.sh\n      timeout: 0\n"), 6, "timeout", "more than 0"},
		{"timeout negative", hook("    - location: a.sh\n      timeout: -5\n"), 6, "timeout", "more than 0"},
		{"timeout over an hour", hook("    - location: a.sh\n      timeout: 3601\n"), 6, "timeout", "at most 3600"},
		{"timeout words", hook("    - location: a.sh\n      timeout: 5m\n"), 6, "timeout", "whole number of seconds"},
		{"timeout fraction", hook("    - location: a.sh\n      timeout: 1.5\n"), 6, "timeout", "whole number"},
		{"timeout bool", hook("    - location: a.sh\n      timeout: true\n"), 6, "timeout", "whole number"},
		{"timeouts add up", hook("    - location: a.sh\n      timeout: 3000\n    - location: b.sh\n      timeout: 601\n"), 7, "hooks.AfterInstall[1].timeout", "add up to 3601"},
		{"empty runas", hook("    - location: a.sh\n      runas: \"\"\n"), 6, "runas", "must name a user"},
		{"sudo string", hook("    - location: a.sh\n      sudo: \"false\"\n"), 6, "sudo", "expected true or false"},
		{"permissions a mapping", base + "permissions: {object: /srv}\n", 3, "permissions", "expected a list"},
		{"permission without object", base + "permissions:\n  - owner: bob\n", 4, "permissions[0].object", "missing"},
		{"permission null object", base + "permissions:\n  - object:\n", 4, "permissions[0].object", "missing"},
		{"permissions on windows", "version: 0.0\nos: windows\npermissions:\n  - object: c:\\app\n", 4, "permissions[0]", "Linux instances only"},
		{"mode with 9", perm("    mode: 759\n"), 5, "mode", `has '9'`},
		{"mode leading zero (YAML octal)", perm("    mode: 0755\n"), 5, "mode", "YAML reads 0755 as the number 493"},
		{"mode too long", perm("    mode: 12345\n"), 5, "mode", "too long"},
		{"mode negative", perm("    mode: -644\n"), 5, "mode", "not an octal digit"},
		{"mode float", perm("    mode: 6.44\n"), 5, "mode", "octal digits"},
		{"mode symbolic", perm("    mode: u+x\n"), 5, "mode", "not an octal digit"},
		{"type a string", perm("    type: file\n"), 5, "type", "expected a list"},
		{"bad type", perm("    type: [file, link]\n"), 5, "type", `"link" is not an object type`},
		{"except a string", perm("    except: a.txt\n"), 5, "except", "list of strings"},
		{"acls a string", perm("    acls: u:bob:rw\n"), 5, "acls", "expected a list"},
		{"acl base entry", perm("    acls: [\"u::rw\"]\n"), 5, "acls[0]", "use mode"},
		{"acl bad type", perm("    acls: [\"x:bob:rw\"]\n"), 5, "acls[0]", "invalid ACL entry"},
		{"acl bad perm", perm("    acls: [\"u:bob:rwz\"]\n"), 5, "acls[0]", `permission 'z'`},
		{"acl too many parts", perm("    acls: [\"d:d:u:bob:rw\"]\n"), 5, "acls[0]", "invalid ACL entry"},
		{"acl one part", perm("    acls: [rw]\n"), 5, "acls[0]", "invalid ACL entry"},
		{"acl named mask", perm("    acls: [\"m:bob:rw\"]\n"), 5, "acls[0]", "invalid ACL entry"},
		{"context without type", perm("    context: {user: u}\n"), 5, "context.type", "missing"},
		{"context a string", perm("    context: unconfined_u\n"), 5, "context", "expected a mapping"},
		{"context user and name differ", perm("    context: {user: a, name: b, type: t}\n"), 5, "context.name", "conflicts with user"},
		{"range bad sensitivity", perm("    context: {type: t, range: x0}\n"), 5, "context.range", "invalid SELinux sensitivity"},
		{"range high below low", perm("    context: {type: t, range: s3-s1}\n"), 5, "context.range", "high below low"},
		{"range category too big", perm("    context: {type: t, range: \"s0:c1024\"}\n"), 5, "context.range", "invalid SELinux category"},
		{"range duplicate category", perm("    context: {type: t, range: \"s0:c1,c0.c2\"}\n"), 5, "context.range", "twice"},
		{"range empty part", perm("    context: {type: t, range: \"s0:\"}\n"), 5, "context.range", "invalid SELinux range part"},
		{"range category range reversed", perm("    context: {type: t, range: \"s0:c5.c1\"}\n"), 5, "context.range", "category range"},
		{"alias", base + "x: &a 1\ny: *a\n", 4, "", "aliases"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseServer([]byte(tc.doc))
			checkErr(t, err, tc.line, tc.path, tc.msg)
		})
	}
}

func TestParseServerOptions(t *testing.T) {
	custom := "version: 0.0\nos: linux\nhooks:\n  AfterInstall: []\n  WarmCache:\n    - location: warm.sh\n"
	withCustom := append(DefaultLifecycleEvents(), "WarmCache")
	tests := []struct {
		name string
		doc  string
		opts ServerOptions
		msg  string // "" means success
	}{
		{"host os matches", "version: 0.0\nos: linux\n", ServerOptions{HostOS: "linux"}, ""},
		{"custom event without list", custom, ServerOptions{}, `"WarmCache" is not a lifecycle event`},
		{"custom event listed", custom, ServerOptions{AllPossibleLifecycleEvents: withCustom}, ""},
		{"listed custom event without hooks", "version: 0.0\nos: linux\n", ServerOptions{AllPossibleLifecycleEvents: withCustom}, "custom lifecycle event(s) WarmCache"},
		{"list missing a standard event", "version: 0.0\nos: linux\n", ServerOptions{AllPossibleLifecycleEvents: []string{"AfterInstall"}}, "lacks the standard events"},
		{"empty custom hook list counts", "version: 0.0\nos: linux\nhooks:\n  WarmCache: []\n", ServerOptions{AllPossibleLifecycleEvents: withCustom}, ""},
		{"reserved even when listed", "version: 0.0\nos: linux\nhooks:\n  Install: []\n", ServerOptions{AllPossibleLifecycleEvents: DefaultLifecycleEvents()}, "cannot run scripts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseServerWithOptions([]byte(tc.doc), tc.opts)
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Validate(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error = %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestUnsupportedOS(t *testing.T) {
	_, err := ParseServerWithOptions([]byte("version: 0.0\nos: windows\n"), ServerOptions{HostOS: "linux"})
	var u *UnsupportedOSError
	if !errors.As(err, &u) || u.OS != "windows" || u.HostOS != "linux" || u.Line != 2 {
		t.Fatalf("error = %#v", err)
	}
	if !strings.Contains(err.Error(), `line 2: os: the AppSpec is for "windows"`) {
		t.Errorf("message = %q", err)
	}
	// Without HostOS the same AppSpec is fine (the service may check it).
	if _, err := ParseServer([]byte("version: 0.0\nos: windows\n")); err != nil {
		t.Error(err)
	}
}

func TestServerValidate(t *testing.T) {
	good := func() *Server {
		s, err := ParseServer([]byte(serverPermissions))
		if err != nil {
			t.Fatal(err)
		}
		s.Hooks["AfterInstall"] = []Script{{Location: "a.sh", TimeoutSeconds: 60}}
		return s
	}
	tests := []struct {
		name   string
		change func(s *Server)
		path   string
	}{
		{"os", func(s *Server) { s.OS = "" }, "os"},
		{"source escapes", func(s *Server) { s.Files[0].Source = "../x" }, "files[0].source"},
		{"relative destination", func(s *Server) { s.Files[0].Destination = "x" }, "files[0].destination"},
		{"behaviour", func(s *Server) { s.FileExistsBehavior = "overwrite" }, "file_exists_behavior"},
		{"permissions on windows", func(s *Server) { s.OS = "windows"; s.Files = nil }, "permissions"},
		{"bad mode", func(s *Server) { s.Permissions[0].Mode = &Mode{Text: "9"} }, "permissions[0]"},
		{"bad type", func(s *Server) { s.Permissions[0].Types = []string{"pipe"} }, "permissions[0]"},
		{"base ACL", func(s *Server) { s.Permissions[0].ACLs = []ACE{{Type: "user", Read: true}} }, "permissions[0]"},
		{"no object", func(s *Server) { s.Permissions[1].Object = "" }, "permissions[1]"},
		{"no context type", func(s *Server) { s.Permissions[0].Context.Type = "" }, "permissions[0]"},
		{"reserved event", func(s *Server) { s.Hooks["Install"] = nil }, "hooks.Install"},
		{"script escapes", func(s *Server) { s.Hooks["AfterInstall"][0].Location = "/../../x" }, "hooks.AfterInstall[0].location"},
		{"script root", func(s *Server) { s.Hooks["AfterInstall"][0].Location = "." }, "hooks.AfterInstall[0].location"},
		{"negative timeout", func(s *Server) { s.Hooks["AfterInstall"][0].TimeoutSeconds = -1 }, "hooks.AfterInstall[0].timeout"},
		{"sum", func(s *Server) {
			s.Hooks["AfterInstall"] = []Script{{Location: "a", TimeoutSeconds: 3600}, {Location: "b", TimeoutSeconds: 1}}
		}, "hooks.AfterInstall"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			tc.change(s)
			checkErr(t, s.Validate(), 0, tc.path, "")
		})
	}
}

func TestBundlePaths(t *testing.T) {
	lin := &Server{OS: "linux"}
	win := &Server{OS: "windows"}
	tests := []struct {
		s      *Server
		source string
		want   string // "" means refused
	}{
		{lin, "/", "/b"},
		{lin, ".", "/b"},
		{lin, "./", "/b"},
		{lin, "config/app.conf", "/b/config/app.conf"},
		{lin, "/config/app.conf", "/b/config/app.conf"},
		{lin, "//config//x/../app.conf", "/b/config/app.conf"},
		{lin, "a/..", "/b"},
		{lin, "..", ""},
		{lin, "../b2", ""},
		{lin, "/../etc/passwd", ""},
		{lin, "a/../../etc", ""},
		{lin, "a\\..\\..\\etc", "/b/a\\..\\..\\etc"}, // a backslash is a name character on Linux
		{lin, "x\x00y", ""},
		{win, "\\", "/b"},
		{win, "app\\bin", "/b/app/bin"},
		{win, "app\\..\\..\\x", ""},
	}
	for _, tc := range tests {
		got, err := tc.s.SourceIn("/b", File{Source: tc.source})
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s %q: got %q, want refusal", tc.s.OS, tc.source, got)
			}
			continue
		}
		if err != nil || got != filepath.FromSlash(tc.want) {
			t.Errorf("%s %q: got %q, %v; want %q", tc.s.OS, tc.source, got, err, tc.want)
		}
	}
	if p, err := lin.ScriptIn("/b", Script{Location: "scripts/start.sh"}); err != nil || p != "/b/scripts/start.sh" {
		t.Errorf("ScriptIn = %q, %v", p, err)
	}
	for _, loc := range []string{"/", "../x.sh"} {
		if _, err := lin.ScriptIn("/b", Script{Location: loc}); err == nil {
			t.Errorf("ScriptIn(%q) accepted", loc)
		}
	}
}

func TestParseACE(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means error
	}{
		{"u:bob:rw", "user:bob:rw-"},
		{"bob:rwx", "user:bob:rwx"},
		{"user:bob:7", "user:bob:rwx"},
		{"g:ops:r-x", "group:ops:r-x"},
		{"group:ops:5", "group:ops:r-x"},
		{"m::rw", "mask::rw-"},
		{"mask:r", "mask::r--"},
		{"o::r", ""}, // unnamed other is a base entry: use mode
		{"d:u::rwx", "default:user::rwx"},
		{"default:g::rx", "default:group::r-x"},
		{"d:bob:rw", "default:user:bob:rw-"},
		{"d:o::r", "default:other::r--"},
		{"d:m::r", "default:mask::r--"},
		{"default:user:bob:0", "default:user:bob:---"},
		{"u:bob:", "user:bob:---"},
		{"u:m:rw", "user:mask:rw-"},
		{"u::rw", ""},
		{"g::r", ""},
		{"m:bob:r", ""},
		{"o:bob:r", ""},
		{"d:d:bob:r", ""},
		{"x:u:bob:r", ""},
		{"u:bob:8", ""},
		{"u:bob:rq", ""},
		{"rw", ""},
		{"a:b:c:d:e", ""},
	}
	for _, tc := range tests {
		a, err := ParseACE(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseACE(%q) = %v, want error", tc.in, a)
			}
			continue
		}
		if err != nil || a.String() != tc.want {
			t.Errorf("ParseACE(%q) = %q, %v; want %q", tc.in, a.String(), err, tc.want)
		}
	}
}

func TestParseSELinuxRange(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means error
	}{
		{"s0", "s0"},
		{"s0-s0", "s0"},
		{"s0-s15", "s0-s15"},
		{"s0:c0", "s0:c0"},
		{"s0:c0.c1023", "s0:c0.c1023"},
		{"s1-s2:c5,c1,c2,c3", "s1-s2:c1.c3,c5"},
		{"s0:c1,", "s0:c1"}, // Ruby's split drops a trailing empty field
		{"", ""},
		{"s", ""},
		{"0", ""},
		{"s0-", ""},
		{"-s0", ""},
		{"s1-s0", ""},
		{"s0:", ""},
		{":c1", ""},
		{"s0:c", ""},
		{"s0:c1024", ""},
		{"s0:c1,,c2", ""},
		{"s0:,c1", ""},
		{"s0:c1.c1,c1", ""},
		{"s0:c1.", ""},
		{"s0:x1", ""},
		{"s0:c1:c2", ""},
		{"s-1", ""},
		{"s99999999999999999999", ""},
	}
	for _, tc := range tests {
		r, err := ParseSELinuxRange(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseSELinuxRange(%q) = %v, want error", tc.in, r)
			}
			continue
		}
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseSELinuxRange(%q) = %v, %v; want %q", tc.in, r, err, tc.want)
		}
	}
}

func TestModeFileMode(t *testing.T) {
	tests := []struct {
		text string
		want fs.FileMode
	}{
		{"644", 0o644},
		{"0755", 0o755},
		{"4755", 0o755 | fs.ModeSetuid},
		{"2750", 0o750 | fs.ModeSetgid},
		{"1777", 0o777 | fs.ModeSticky},
		{"7000", fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky},
	}
	for _, tc := range tests {
		if got := (Mode{Text: tc.text}).FileMode(); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestPermissionCheckFileTarget(t *testing.T) {
	tests := []struct {
		name string
		p    Permission
		ok   bool
	}{
		{"plain", Permission{Object: "/f", Pattern: "**", Types: []string{"file"}}, true},
		{"directory only ignores pattern", Permission{Object: "/f", Pattern: "*.sh", Types: []string{"directory"}}, true},
		{"pattern", Permission{Object: "/f", Pattern: "*.sh", Types: []string{"file"}}, false},
		{"except", Permission{Object: "/f", Pattern: "**", Except: []string{"x"}, Types: []string{"file", "directory"}}, false},
		{"default ACL", Permission{Object: "/f", Pattern: "**", Types: []string{"file"}, ACLs: []ACE{{Default: true, Type: "user"}}}, false},
	}
	for _, tc := range tests {
		if err := tc.p.CheckFileTarget(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
