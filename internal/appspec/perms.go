package appspec

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Permission is one entry of permissions (Linux only). The semantics follow
// the agent's linux_permission_info.rb and the user guide's 'permissions'
// section.
type Permission struct {
	Object  string   // file or directory on the instance
	Pattern string   // glob for names under Object; "**" (the default) is all
	Except  []string // globs excluded from Pattern
	Owner   string   // "" leaves the owner alone
	Group   string   // "" leaves the group alone
	Mode    *Mode    // nil leaves the mode alone
	ACLs    []ACE    // nil leaves ACLs alone
	Context *SELinuxContext
	// Types is a subset of "file", "directory"; both by default.
	Types []string
}

var errPermissionsWindows = errors.New("permissions apply to Linux instances only; remove them or deploy with os: linux")

// Mode is a permission mode as the agent reads it: up to four octal digits,
// the first of four being setuid/setgid/sticky.
type Mode struct {
	Text string // three or four digits, left-padded with zeros ("755", "4755")
}

// FileMode returns the mode's permission bits and setuid, setgid and sticky.
func (m Mode) FileMode() fs.FileMode {
	v, _ := strconv.ParseUint(m.Text, 8, 32)
	mode := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// parseModeText applies mode_info.rb: the value's text, left-padded to three
// characters, at most four, each an octal digit.
func parseModeText(s string) (*Mode, error) {
	for len(s) < 3 {
		s = "0" + s
	}
	if len(s) > 4 {
		return nil, fmt.Errorf("mode %q is too long; a mode has one to four octal digits, such as 644 or 4755", s)
	}
	for _, c := range s {
		if c < '0' || c > '7' {
			return nil, fmt.Errorf("mode %q has %q, which is not an octal digit (0-7)", s, c)
		}
	}
	return &Mode{Text: s}, nil
}

func modeNode(n *yaml.Node, path string) (*Mode, error) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			// The agent takes the number's decimal text. A leading zero makes
			// YAML read 0755 as octal (493), which then fails; say why.
			v, err := integer(n, path, false)
			if err != nil {
				return nil, err
			}
			m, err := parseModeText(strconv.FormatInt(v, 10))
			if err != nil && strconv.FormatInt(v, 10) != n.Value {
				return nil, errAt(n, path, "%v; YAML reads %s as the number %d, so write the digits without a leading 0 or prefix, e.g. mode: 755", err, n.Value, v)
			}
			return m, locate(n, path, err)
		case "!!str":
			m, err := parseModeText(n.Value)
			return m, locate(n, path, err)
		}
	}
	return nil, errAt(n, path, "expected octal digits such as 644 or 4755, found %s", describe(n))
}

// ACE is one ACL entry, parsed as ace_info.rb does.
type ACE struct {
	Default bool
	Type    string // user, group, mask or other
	Name    string // "" for the owning user/group
	Read    bool
	Write   bool
	Execute bool
}

// String renders the entry in setfacl's long form,
// "[default:]type:name:rwx".
func (a ACE) String() string {
	var b strings.Builder
	if a.Default {
		b.WriteString("default:")
	}
	b.WriteString(a.Type + ":" + a.Name + ":")
	for _, x := range []struct {
		on bool
		c  byte
	}{{a.Read, 'r'}, {a.Write, 'w'}, {a.Execute, 'x'}} {
		if x.on {
			b.WriteByte(x.c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// ParseACE parses an ACL entry such as "u:bob:rw", "d:g:ops:5" or "m::rx".
// Unnamed user and group entries that are not defaults are refused, as the
// agent does: those are what mode sets.
func ParseACE(s string) (ACE, error) {
	var a ACE
	parts := strings.Split(s, ":")
	slices.Reverse(parts)
	bad := fmt.Errorf("invalid ACL entry %q; expected [d[efault]:][u[ser]|g[roup]|m[ask]|o[ther]:]name:perms", s)
	if len(parts) < 2 || len(parts) > 4 {
		return a, bad
	}
	if len(parts) == 4 {
		if parts[3] != "d" && parts[3] != "default" {
			return a, bad
		}
		a.Default = true
	}
	if len(parts) >= 3 {
		switch parts[2] {
		case "d", "default":
			if a.Default {
				return a, bad
			}
			a.Default = true
		case "m", "mask":
			a.Type = "mask"
		case "o", "other":
			a.Type = "other"
		case "g", "group":
			a.Type = "group"
		case "u", "user":
			a.Type = "user"
		default:
			return a, bad
		}
	}
	switch parts[1] {
	case "m", "mask", "o", "other":
		word := map[string]string{"m": "mask", "mask": "mask", "o": "other", "other": "other"}[parts[1]]
		if a.Type == "" {
			a.Type = word
		} else {
			a.Name = word
		}
	default:
		if a.Type == "" {
			a.Type = "user"
		}
		a.Name = parts[1]
	}
	if (a.Type == "mask" || a.Type == "other") && a.Name != "" {
		return a, bad
	}
	if !a.Default && a.Type != "mask" && a.Name == "" {
		return a, fmt.Errorf("ACL entry %q sets the owning %s; use mode for that", s, a.Type)
	}
	perms := parts[0]
	if len(perms) == 1 && perms[0] >= '0' && perms[0] <= '7' {
		d := perms[0] - '0'
		a.Read, a.Write, a.Execute = d&4 != 0, d&2 != 0, d&1 != 0
		return a, nil
	}
	for _, c := range perms {
		switch c {
		case 'r':
			a.Read = true
		case 'w':
			a.Write = true
		case 'x':
			a.Execute = true
		case '-':
		default:
			return a, fmt.Errorf("ACL entry %q has permission %q; use r, w, x and -", s, c)
		}
	}
	return a, nil
}

// SELinuxContext is a permission's context.
type SELinuxContext struct {
	User  string // "" to leave the SELinux user alone
	Type  string
	Range *SELinuxRange
}

// SELinuxRange is an MLS/MCS range, s<low>[-s<high>][:c<n>[.c<m>],...].
type SELinuxRange struct {
	Low, High  int
	Categories []int // sorted, nil when none were given
}

// String renders the range in its compact form (s0-s2:c0.c3,c7), as the
// agent passes it to chcon.
func (r SELinuxRange) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "s%d", r.Low)
	if r.High != r.Low {
		fmt.Fprintf(&b, "-s%d", r.High)
	}
	if r.Categories != nil {
		b.WriteByte(':')
		for i := 0; i < len(r.Categories); {
			j := i
			for j+1 < len(r.Categories) && r.Categories[j+1] == r.Categories[j]+1 {
				j++
			}
			if i > 0 {
				b.WriteByte(',')
			}
			if i == j {
				fmt.Fprintf(&b, "c%d", r.Categories[i])
			} else {
				fmt.Fprintf(&b, "c%d.c%d", r.Categories[i], r.Categories[j])
			}
			i = j + 1
		}
	}
	return b.String()
}

// splitParts follows range_info.rb's ensure_parts: split once on sep, every
// part non-empty.
func splitParts(s, sep string) ([]string, error) {
	parts := []string{s}
	if strings.Contains(s, sep) {
		parts = strings.SplitN(s, sep, 2)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("invalid SELinux range part %q", s)
		}
	}
	return parts, nil
}

func rangeNumber(s, prefix string, max int) (int, error) {
	if len(s) < 2 || !strings.HasPrefix(s, prefix) || !isDigits(s[1:]) {
		return 0, fmt.Errorf("invalid SELinux %s %q", map[string]string{"s": "sensitivity", "c": "category"}[prefix], s)
	}
	v, err := strconv.Atoi(s[1:])
	if err != nil || (max >= 0 && v > max) {
		return 0, fmt.Errorf("invalid SELinux %s %q", map[string]string{"s": "sensitivity", "c": "category"}[prefix], s)
	}
	return v, nil
}

// ParseSELinuxRange parses a range as range_info.rb does.
func ParseSELinuxRange(s string) (*SELinuxRange, error) {
	parts, err := splitParts(s, ":")
	if err != nil {
		return nil, err
	}
	sens, err := splitParts(parts[0], "-")
	if err != nil {
		return nil, err
	}
	r := &SELinuxRange{}
	if r.Low, err = rangeNumber(sens[0], "s", 1<<20); err != nil {
		return nil, err
	}
	r.High = r.Low
	if len(sens) == 2 {
		if r.High, err = rangeNumber(sens[1], "s", 1<<20); err != nil {
			return nil, err
		}
		if r.High < r.Low {
			return nil, fmt.Errorf("invalid SELinux sensitivity range in %q: high below low", s)
		}
	}
	if len(parts) == 2 {
		items := strings.Split(parts[1], ",")
		// Ruby's split drops trailing empty fields; do the same.
		for len(items) > 0 && items[len(items)-1] == "" {
			items = items[:len(items)-1]
		}
		cats := []int{}
		for _, it := range items {
			if strings.Contains(it, ".") {
				ends, err := splitParts(it, ".")
				if err != nil {
					return nil, err
				}
				lo, err := rangeNumber(ends[0], "c", 1023)
				if err != nil {
					return nil, err
				}
				hi, err := rangeNumber(ends[1], "c", 1023)
				if err != nil {
					return nil, err
				}
				if hi < lo {
					return nil, fmt.Errorf("invalid SELinux category range %q", it)
				}
				for c := lo; c <= hi; c++ {
					cats = append(cats, c)
				}
				continue
			}
			c, err := rangeNumber(it, "c", 1023)
			if err != nil {
				return nil, err
			}
			cats = append(cats, c)
		}
		slices.Sort(cats)
		if len(slices.Compact(slices.Clone(cats))) != len(cats) {
			return nil, fmt.Errorf("SELinux range %q lists a category twice", s)
		}
		r.Categories = cats
	}
	return r, nil
}

var permissionKeys = []string{"object", "pattern", "except", "owner", "group", "mode", "acls", "context", "type"}

func (s *Server) parsePermissions(n *yaml.Node, path string) ([]Permission, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, path, "expected a list of permission entries (- object: /srv/app ...), found %s", describe(n))
	}
	var out []Permission
	for i, c := range n.Content {
		ip := indexPath(path, i)
		fs, err := fields(c, ip, false)
		if err != nil {
			return nil, err
		}
		p := Permission{Pattern: "**", Types: []string{"file", "directory"}}
		var haveObject bool
		for _, f := range fs {
			if isNull(f.val) && f.key != "object" {
				continue // the agent treats a null like an absent key
			}
			switch f.key {
			case "object":
				if isNull(f.val) {
					continue
				}
				o, err := text(f.val, f.path)
				if err != nil {
					return nil, err
				}
				if p.Object = strings.TrimSpace(o); p.Object == "" {
					return nil, errAt(f.val, f.path, "must not be empty")
				}
				haveObject = true
			case "pattern":
				if p.Pattern, err = nonEmptyText(f.val, f.path); err != nil {
					return nil, err
				}
			case "except":
				if p.Except, err = stringList(f.val, f.path); err != nil {
					return nil, err
				}
			case "owner":
				if p.Owner, err = nonEmptyText(f.val, f.path); err != nil {
					return nil, err
				}
			case "group":
				if p.Group, err = nonEmptyText(f.val, f.path); err != nil {
					return nil, err
				}
			case "mode":
				if p.Mode, err = modeNode(f.val, f.path); err != nil {
					return nil, err
				}
			case "acls":
				if f.val.Kind != yaml.SequenceNode {
					return nil, errAt(f.val, f.path, "expected a list of ACL entries (- u:bob:rw), found %s", describe(f.val))
				}
				p.ACLs = []ACE{}
				for j, e := range f.val.Content {
					t, err := nonEmptyText(e, indexPath(f.path, j))
					if err != nil {
						return nil, err
					}
					a, err := ParseACE(t)
					if err != nil {
						return nil, locate(e, indexPath(f.path, j), err)
					}
					p.ACLs = append(p.ACLs, a)
				}
			case "context":
				if p.Context, err = s.parseContext(f.val, f.path); err != nil {
					return nil, err
				}
			case "type":
				if f.val.Kind != yaml.SequenceNode {
					return nil, errAt(f.val, f.path, "expected a list such as [file, directory], found %s", describe(f.val))
				}
				types, err := stringList(f.val, f.path)
				if err != nil {
					return nil, err
				}
				if err := checkTypes(types); err != nil {
					return nil, locate(f.val, f.path, err)
				}
				p.Types = types
			default:
				s.warn(f.kn, f.path, "unknown key ignored%s", suggest(f.key, permissionKeys))
			}
		}
		if !haveObject {
			return nil, errAt(c, joinPath(ip, "object"), "missing; name the file or directory the permissions apply to")
		}
		// The agent refuses permissions outright for Windows
		// (application_specification.rb, parse_permissions).
		if s.OS == "windows" {
			return nil, errAt(c, ip, "%v", errPermissionsWindows)
		}
		if !strings.HasPrefix(p.Object, "/") {
			s.warn(c, joinPath(ip, "object"), "%q is not absolute; the agent resolves it against its working directory", p.Object)
		}
		out = append(out, p)
	}
	return out, nil
}

func checkTypes(types []string) error {
	for _, t := range types {
		if t != "file" && t != "directory" {
			return fmt.Errorf("%q is not an object type; use file and/or directory", t)
		}
	}
	return nil
}

// parseContext reads an SELinux context. The user guide names the user key
// "user"; the agent (context_info.rb) reads "name" and ignores "user". Both
// are taken; giving both with different values is an error.
func (s *Server) parseContext(n *yaml.Node, path string) (*SELinuxContext, error) {
	fs, err := fields(n, path, false)
	if err != nil {
		return nil, err
	}
	ctx := &SELinuxContext{}
	var user *field
	for i := range fs {
		f := &fs[i]
		if isNull(f.val) {
			continue
		}
		switch f.key {
		case "name", "user":
			u, err := nonEmptyText(f.val, f.path)
			if err != nil {
				return nil, err
			}
			if user != nil && u != ctx.User {
				return nil, errAt(f.kn, f.path, "conflicts with %s: %q; give the SELinux user once", user.key, ctx.User)
			}
			ctx.User, user = u, f
		case "type":
			if ctx.Type, err = nonEmptyText(f.val, f.path); err != nil {
				return nil, err
			}
		case "range":
			r, err := text(f.val, f.path)
			if err != nil {
				return nil, err
			}
			if ctx.Range, err = ParseSELinuxRange(r); err != nil {
				return nil, locate(f.val, f.path, err)
			}
		default:
			s.warn(f.kn, f.path, "unknown key ignored; a context has user (or name), type and range")
		}
	}
	if ctx.Type == "" {
		return nil, errAt(n, joinPath(path, "type"), "missing; an SELinux context needs a type")
	}
	return ctx, nil
}

func (p *Permission) validate() error {
	if strings.TrimSpace(p.Object) == "" {
		return errors.New("object is missing")
	}
	if p.Pattern == "" {
		return errors.New("pattern must not be empty")
	}
	if p.Mode != nil {
		if _, err := parseModeText(p.Mode.Text); err != nil {
			return err
		}
	}
	if err := checkTypes(p.Types); err != nil {
		return err
	}
	for _, a := range p.ACLs {
		if _, err := ParseACE(a.String()); err != nil {
			return err
		}
	}
	if p.Context != nil && p.Context.Type == "" {
		return errors.New("context type is missing")
	}
	return nil
}

// CheckFileTarget applies the rule the agent checks at install time when
// Object turns out to be a file being copied (validate_file_permission,
// validate_file_acl): pattern and except make no sense for a single file,
// nor do default ACLs.
func (p *Permission) CheckFileTarget() error {
	if !slices.Contains(p.Types, "file") {
		return nil
	}
	if p.Pattern != "**" {
		return fmt.Errorf("permissions for file %s cannot use pattern %q", p.Object, p.Pattern)
	}
	if len(p.Except) > 0 {
		return fmt.Errorf("permissions for file %s cannot use except", p.Object)
	}
	for _, a := range p.ACLs {
		if a.Default {
			return fmt.Errorf("permissions for file %s cannot set default ACL %s", p.Object, a)
		}
	}
	return nil
}
