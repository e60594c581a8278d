package appspec

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Server is a parsed EC2/on-premises AppSpec (appspec.yml in a bundle).
type Server struct {
	OS    string // "linux" or "windows"
	Files []File
	// FileExistsBehavior is DISALLOW, OVERWRITE or RETAIN, or "" when the
	// AppSpec leaves it to the deployment. When set it wins over the
	// deployment's fileExistsBehavior (user guide, 'files' section).
	FileExistsBehavior string
	Permissions        []Permission
	// Hooks maps an event to its scripts, run in order.
	Hooks map[string][]Script
	// HookOrder lists the events of Hooks in document order.
	HookOrder []string
	// Warnings name keys the agent ignores (the AWS agent reads only the
	// keys it knows, so these are not errors); the agent logs them.
	Warnings []string
}

// File is one entry of files.
type File struct {
	// Source is relative to the bundle root; "/" (or "\" on Windows) is the
	// whole bundle. A leading slash does not make it absolute: the agent
	// joins it onto the archive directory.
	Source string
	// Destination is an absolute path on the instance.
	Destination string
}

// Script is one hook script.
type Script struct {
	Location string // relative to the bundle root
	// TimeoutSeconds is the timeout the AppSpec gives, 1 to 3600, or 0 when
	// it gives none (then the agent's default applies; see Timeout).
	TimeoutSeconds int
	Runas          string // "" to run as the agent's user
	Sudo           bool
}

// Timeout is how long the script may run: its timeout, or
// DefaultScriptTimeout when the AppSpec gives none.
func (s Script) Timeout() time.Duration {
	if s.TimeoutSeconds == 0 {
		return DefaultScriptTimeout * time.Second
	}
	return time.Duration(s.TimeoutSeconds) * time.Second
}

const (
	// DefaultScriptTimeout is the agent's default for a script without
	// timeout (script_info.rb).
	DefaultScriptTimeout = 3600
	// MaxEventSeconds bounds the timeouts of one event's scripts together:
	// "3600 seconds (1 hour) is the maximum amount of time allowed for script
	// execution for each deployment lifecycle event. ... Make sure the total
	// number of seconds specified in timeout for all scripts in each
	// deployment lifecycle event does not exceed this limit" (user guide,
	// 'hooks'). Only timeouts the AppSpec gives count: the guide's own
	// example has two BeforeInstall scripts without one.
	MaxEventSeconds = 3600
)

// File exists behaviours.
const (
	FileExistsDisallow  = "DISALLOW"
	FileExistsOverwrite = "OVERWRITE"
	FileExistsRetain    = "RETAIN"
)

// ServerOptions tune ParseServerWithOptions to a particular agent and
// deployment.
type ServerOptions struct {
	// HostOS, when set ("linux"), is the only os this agent can deploy; an
	// AppSpec for the other gives *UnsupportedOSError, as the Linux agent's
	// supported_oses check does.
	HostOS string
	// AllPossibleLifecycleEvents is the deployment specification's list of
	// that name. The agent requires the AppSpec's hook events (and its own
	// nine script events) to be in it, and every custom event in it (one not
	// in DefaultLifecycleEvents) to have hooks in the AppSpec
	// (command_executor.rb, validate_app_spec_hooks). Nil means
	// DefaultLifecycleEvents, so a misspelt event is an error rather than a
	// hook that never runs.
	AllPossibleLifecycleEvents []string
}

// Hook returns the scripts for event.
func (s *Server) Hook(event string) []Script { return s.Hooks[event] }

// ParseServer parses and validates an EC2/on-premises AppSpec with default
// options: either os, and only the default lifecycle events.
func ParseServer(content []byte) (*Server, error) {
	return ParseServerWithOptions(content, ServerOptions{})
}

var serverTopKeys = []string{"version", "os", "files", "file_exists_behavior", "permissions", "hooks"}

// ParseServerWithOptions parses and validates an EC2/on-premises AppSpec as
// the CodeDeploy agent does, plus the path-safety checks of Validate.
func ParseServerWithOptions(content []byte, opts ServerOptions) (*Server, error) {
	root, err := load(content)
	if err != nil {
		return nil, err
	}
	fs, err := fields(root, "", false)
	if err != nil {
		return nil, err
	}
	s := &Server{Hooks: map[string][]Script{}}
	byKey := map[string]*field{}
	for i := range fs {
		f := &fs[i]
		if slices.Contains(serverTopKeys, f.key) {
			byKey[f.key] = f
			continue
		}
		s.warn(f.kn, f.path, "unknown key ignored%s", suggest(f.key, serverTopKeys))
	}

	// version: the agent keeps [0.0].include?(version), so the number 0.0
	// (or 0) passes and the string "0.0" fails.
	vf := byKey["version"]
	if vf == nil {
		return nil, errAt(root, "version", "missing; an AppSpec must say version: 0.0")
	}
	if !isZeroNumber(vf.val) {
		hint := ""
		if vf.val.Kind == yaml.ScalarNode && vf.val.ShortTag() == "!!str" && strings.TrimSpace(vf.val.Value) == "0.0" {
			hint = "; write it unquoted: the CodeDeploy agent compares it with the number 0.0 and refuses the string"
		}
		return nil, errAt(vf.val, "version", "must be the number 0.0, found %s%s", describe(vf.val), hint)
	}

	of := byKey["os"]
	if of == nil {
		return nil, errAt(root, "os", "missing; say os: linux or os: windows")
	}
	osName, err := text(of.val, "os")
	if err != nil {
		return nil, err
	}
	if err := checkOS(osName); err != nil {
		return nil, locate(of.val, "os", err)
	}
	s.OS = osName
	if opts.HostOS != "" && osName != opts.HostOS {
		return nil, &UnsupportedOSError{OS: osName, HostOS: opts.HostOS, Line: of.val.Line}
	}

	if f := byKey["files"]; f != nil {
		if s.Files, err = s.parseFiles(f.val, f.path); err != nil {
			return nil, err
		}
	}
	if f := byKey["file_exists_behavior"]; f != nil && !isNull(f.val) {
		b, err := text(f.val, f.path)
		if err != nil {
			return nil, err
		}
		// Compared without case: the agent upper-cases the deployment's own
		// setting (deployment_specification.rb), and nothing is gained by
		// refusing "overwrite" here.
		b = strings.ToUpper(strings.TrimSpace(b))
		if err := checkFileExistsBehavior(b); err != nil {
			return nil, locate(f.val, f.path, err)
		}
		s.FileExistsBehavior = b
	}
	if f := byKey["permissions"]; f != nil {
		if s.Permissions, err = s.parsePermissions(f.val, f.path); err != nil {
			return nil, err
		}
	}
	if f := byKey["hooks"]; f != nil {
		if err := s.parseHooks(f.val, f.path); err != nil {
			return nil, err
		}
	}
	if err := checkLifecycleEvents(s, fs, opts.AllPossibleLifecycleEvents); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) warn(n *yaml.Node, path, format string, args ...any) {
	s.Warnings = append(s.Warnings, errAt(n, path, format, args...).Error())
}

func checkOS(os string) error {
	if os != "linux" && os != "windows" {
		return fmt.Errorf("must be linux or windows, found %q%s", os, suggest(os, []string{"linux", "windows"}))
	}
	return nil
}

func checkFileExistsBehavior(b string) error {
	switch b {
	case FileExistsDisallow, FileExistsOverwrite, FileExistsRetain:
		return nil
	}
	return fmt.Errorf("must be DISALLOW, OVERWRITE or RETAIN, found %q", b)
}

func (s *Server) parseFiles(n *yaml.Node, path string) ([]File, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, path, "expected a list of {source, destination}, found %s", describe(n))
	}
	var out []File
	for i, c := range n.Content {
		ip := indexPath(path, i)
		fs, err := fields(c, ip, false)
		if err != nil {
			return nil, err
		}
		var f File
		var src, dst *field
		for j := range fs {
			switch fs[j].key {
			case "source":
				src = &fs[j]
			case "destination":
				dst = &fs[j]
			case "file_exists_behavior":
				s.warn(fs[j].kn, fs[j].path, "ignored: file_exists_behavior is set once, at the top level, for all files")
			default:
				s.warn(fs[j].kn, fs[j].path, "unknown key ignored; a files entry has source and destination")
			}
		}
		if src == nil || isNull(src.val) {
			return nil, errAt(c, joinPath(ip, "source"), "missing; say which bundle file or directory to copy (/ for all)")
		}
		if dst == nil || isNull(dst.val) {
			return nil, errAt(c, joinPath(ip, "destination"), "missing; say where on the instance to copy %q", src.val.Value)
		}
		if f.Source, err = nonEmptyText(src.val, src.path); err != nil {
			return nil, err
		}
		if f.Destination, err = nonEmptyText(dst.val, dst.path); err != nil {
			return nil, err
		}
		if _, err := bundlePath(f.Source, s.OS == "windows"); err != nil {
			return nil, locate(src.val, src.path, err)
		}
		if err := checkDestination(f.Destination, s.OS == "windows"); err != nil {
			return nil, locate(dst.val, dst.path, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// parseHooks reads the hooks mapping: event → list of scripts.
func (s *Server) parseHooks(n *yaml.Node, path string) error {
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		return errAt(n, path, "expected a mapping of event name to scripts (BeforeInstall: [- location: ...]); a list of single-key mappings is the ECS/Lambda form")
	}
	fs, err := fields(n, path, false)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if err := checkEventName(f.key); err != nil {
			return locate(f.kn, f.path, err)
		}
		if f.val.Kind != yaml.SequenceNode {
			return errAt(f.val, f.path, "expected a list of scripts (- location: script.sh), found %s", describe(f.val))
		}
		var scripts []Script
		total := 0
		for i, c := range f.val.Content {
			sc, err := s.parseScript(c, indexPath(f.path, i))
			if err != nil {
				return err
			}
			total += sc.TimeoutSeconds
			if total > MaxEventSeconds {
				return errAt(c, indexPath(f.path, i)+".timeout", "the timeouts of %s's scripts add up to %d seconds; one lifecycle event may take at most %d",
					f.key, total, MaxEventSeconds)
			}
			scripts = append(scripts, sc)
		}
		s.Hooks[f.key] = scripts
		s.HookOrder = append(s.HookOrder, f.key)
	}
	return nil
}

// checkEventName refuses events no script can run in. The agent would
// accept the name and never run the scripts; an error says so instead.
func checkEventName(ev string) error {
	if IsServerReservedEvent(ev) {
		return fmt.Errorf("%s is carried out by CodeDeploy itself and cannot run scripts; use %s instead",
			ev, map[string]string{
				EventDownloadBundle: EventBeforeInstall, EventInstall: EventAfterInstall,
				EventBlockTraffic: EventBeforeBlockTraffic + " or " + EventAfterBlockTraffic,
				EventAllowTraffic: EventBeforeAllowTraffic + " or " + EventAfterAllowTraffic,
			}[ev])
	}
	if strings.TrimSpace(ev) == "" {
		return errors.New("event name must not be empty")
	}
	return nil
}

var scriptKeys = []string{"location", "timeout", "runas", "sudo"}

func (s *Server) parseScript(n *yaml.Node, path string) (Script, error) {
	fs, err := fields(n, path, false)
	if err != nil {
		return Script{}, err
	}
	var sc Script
	var haveLoc bool
	for _, f := range fs {
		switch f.key {
		case "location":
			if isNull(f.val) {
				continue
			}
			loc, err := text(f.val, f.path)
			if err != nil {
				return Script{}, err
			}
			// The agent strips the location (application_specification.rb).
			sc.Location = strings.TrimSpace(loc)
			if sc.Location == "" {
				return Script{}, errAt(f.val, f.path, "must not be empty")
			}
			if err := checkScriptLocation(sc.Location, s.OS == "windows"); err != nil {
				return Script{}, locate(f.val, f.path, err)
			}
			haveLoc = true
		case "timeout":
			if isNull(f.val) {
				continue
			}
			t, err := timeoutSeconds(f.val, f.path)
			if err != nil {
				return Script{}, err
			}
			sc.TimeoutSeconds = t
		case "runas":
			if isNull(f.val) {
				continue
			}
			r, err := text(f.val, f.path)
			if err != nil {
				return Script{}, err
			}
			if sc.Runas = strings.TrimSpace(r); sc.Runas == "" {
				return Script{}, errAt(f.val, f.path, "must name a user")
			}
		case "sudo":
			// The agent uses sudo's Ruby truthiness, under which the string
			// "false" is true; only real booleans are taken here.
			if isNull(f.val) {
				continue
			}
			if f.val.Kind != yaml.ScalarNode || f.val.ShortTag() != "!!bool" {
				return Script{}, errAt(f.val, f.path, "expected true or false, found %s", describe(f.val))
			}
			if err := f.val.Decode(&sc.Sudo); err != nil {
				return Script{}, errAt(f.val, f.path, "expected true or false")
			}
		default:
			s.warn(f.kn, f.path, "unknown key ignored%s; a script has location, timeout, runas and sudo", suggest(f.key, scriptKeys))
		}
	}
	if !haveLoc {
		return Script{}, errAt(n, joinPath(path, "location"), "missing; give the script's path in the bundle")
	}
	return sc, nil
}

// timeoutSeconds reads a script timeout. The agent applies Ruby's to_i, so
// it takes 300, 300.0 and "300"; it would also read "5m" as 5 seconds and
// 1.5 as 1, which are refused here as surely unintended.
func timeoutSeconds(n *yaml.Node, path string) (int, error) {
	var v int64
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		t := strings.TrimSpace(n.Value)
		p, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return 0, errAt(n, path, "must be a whole number of seconds, found %q", n.Value)
		}
		v = p
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			return 0, errAt(n, path, "must be a whole number of seconds, found %s", n.Value)
		}
		v = int64(f)
	default:
		p, err := integer(n, path, false)
		if err != nil {
			return 0, errAt(n, path, "must be a whole number of seconds, found %s", describe(n))
		}
		v = p
	}
	if err := checkTimeout(v); err != nil {
		return 0, locate(n, path, err)
	}
	return int(v), nil
}

func checkTimeout(v int64) error {
	if v <= 0 {
		return fmt.Errorf("must be more than 0 seconds, found %d", v)
	}
	if v > MaxEventSeconds {
		return fmt.Errorf("must be at most %d seconds (one lifecycle event may take at most an hour), found %d", MaxEventSeconds, v)
	}
	return nil
}

// checkLifecycleEvents applies the agent's check of the AppSpec's events
// against the deployment's AllPossibleLifecycleEvents.
func checkLifecycleEvents(s *Server, top []field, all []string) error {
	if all == nil {
		all = DefaultLifecycleEvents()
	}
	hookLine := map[string]*yaml.Node{}
	for _, f := range top {
		if f.key == "hooks" && f.val.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(f.val.Content); i += 2 {
				hookLine[f.val.Content[i].Value] = f.val.Content[i]
			}
		}
	}
	for _, ev := range s.HookOrder {
		if !slices.Contains(all, ev) {
			known := slices.DeleteFunc(slices.Clone(all), IsServerReservedEvent)
			return errAt(hookLine[ev], "hooks."+ev, "%q is not a lifecycle event of this deployment%s; events: %s",
				ev, suggest(ev, known), strings.Join(known, ", "))
		}
	}
	var missing []string
	for _, ev := range ServerScriptEvents() {
		if !slices.Contains(all, ev) {
			missing = append(missing, ev)
		}
	}
	if len(missing) > 0 {
		return &Error{Msg: "the deployment's lifecycle event list lacks the standard events " + strings.Join(missing, ", ")}
	}
	var custom []string
	for _, ev := range all {
		if _, ok := s.Hooks[ev]; !ok && !slices.Contains(DefaultLifecycleEvents(), ev) {
			custom = append(custom, ev)
		}
	}
	if len(custom) > 0 {
		sort.Strings(custom)
		return &Error{Path: "hooks", Msg: "the deployment runs custom lifecycle event(s) " + strings.Join(custom, ", ") + " but the AppSpec has no hooks for them"}
	}
	return nil
}

// Validate checks a parsed (or hand-built) Server AppSpec: os, files (no
// source escaping the bundle, absolute destinations), file_exists_behavior,
// permissions, script locations (inside the bundle) and timeouts, and event
// names (no reserved events). Whether custom events are allowed depends on
// the deployment and is checked only by ParseServerWithOptions.
func (s *Server) Validate() error {
	if err := checkOS(s.OS); err != nil {
		return atPath("os", err)
	}
	win := s.OS == "windows"
	for i, f := range s.Files {
		p := indexPath("files", i)
		if _, err := bundlePath(f.Source, win); err != nil {
			return atPath(p+".source", err)
		}
		if err := checkDestination(f.Destination, win); err != nil {
			return atPath(p+".destination", err)
		}
	}
	if s.FileExistsBehavior != "" {
		if err := checkFileExistsBehavior(s.FileExistsBehavior); err != nil {
			return atPath("file_exists_behavior", err)
		}
	}
	if win && len(s.Permissions) > 0 {
		return atPath("permissions", errPermissionsWindows)
	}
	for i, p := range s.Permissions {
		if err := p.validate(); err != nil {
			return atPath(indexPath("permissions", i), err)
		}
	}
	for ev, scripts := range s.Hooks {
		if err := checkEventName(ev); err != nil {
			return atPath("hooks."+ev, err)
		}
		total := 0
		for i, sc := range scripts {
			p := indexPath("hooks."+ev, i)
			if strings.TrimSpace(sc.Location) == "" {
				return atPath(p+".location", errors.New("missing"))
			}
			if err := checkScriptLocation(sc.Location, win); err != nil {
				return atPath(p+".location", err)
			}
			if sc.TimeoutSeconds != 0 {
				if err := checkTimeout(int64(sc.TimeoutSeconds)); err != nil {
					return atPath(p+".timeout", err)
				}
			}
			total += sc.TimeoutSeconds
		}
		if total > MaxEventSeconds {
			return atPath("hooks."+ev, fmt.Errorf("the script timeouts add up to %d seconds; one lifecycle event may take at most %d", total, MaxEventSeconds))
		}
	}
	return nil
}

// checkScriptLocation: a script lies inside the bundle and is not the
// bundle root itself.
func checkScriptLocation(loc string, windows bool) error {
	rel, err := bundlePath(loc, windows)
	if err != nil {
		return err
	}
	if rel == "." {
		return fmt.Errorf("%q is the bundle root; name the script file", loc)
	}
	return nil
}
