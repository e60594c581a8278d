// Package install carries out an AppSpec's files and permissions sections
// as AWS's agent does (installer.rb): first it removes what the group's
// previous deployment installed (listed in the cleanup file), then it plans
// every copy and directory, refusing the plan before touching anything when
// a file exists and the behaviour is DISALLOW, then it executes the plan,
// recording each created path in a new cleanup file as it goes.
package install

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/appspec"
)

// Installer installs bundles for deployment groups.
type Installer struct {
	// InstructionsDir is <root>/deployment-instructions.
	InstructionsDir string
	Log             *slog.Logger
}

// CleanupFile is the file listing what a group's last install created.
func (in *Installer) CleanupFile(groupID string) string {
	return filepath.Join(in.InstructionsDir, groupID+"-cleanup")
}

type opKind int

const (
	opMkdir opKind = iota
	opCopy
)

type op struct {
	kind     opKind
	src, dst string
	isFile   bool // for permissions: a copied file (not a directory)
}

type plan struct {
	ops     []op
	targets map[string]int // dst → index in ops
	perms   []permOp
}

type permOp struct {
	path string
	p    appspec.Permission
}

// Install removes the previous install of groupID, then copies archiveDir's
// files per spec. behavior is the deployment's fileExistsBehavior; the
// AppSpec's own value wins.
func (in *Installer) Install(groupID, archiveDir string, spec *appspec.Server, behavior string) error {
	if err := os.MkdirAll(in.InstructionsDir, 0o755); err != nil {
		return fmt.Errorf("create instructions directory: %w", err)
	}
	if err := in.cleanup(groupID); err != nil {
		return err
	}
	if spec.FileExistsBehavior != "" {
		behavior = spec.FileExistsBehavior
	}
	if behavior == "" {
		behavior = appspec.FileExistsDisallow
	}
	p, err := in.plan(archiveDir, spec, behavior)
	if err != nil {
		return err
	}
	return in.execute(groupID, p)
}

// cleanup removes what the previous install recorded, newest first;
// directories go only when empty.
func (in *Installer) cleanup(groupID string) error {
	name := in.CleanupFile(groupID)
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read cleanup file: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	slices.Reverse(lines)
	for _, l := range lines {
		if l == "" || !filepath.IsAbs(l) {
			continue
		}
		fi, err := os.Lstat(l)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			if err := os.Remove(l); err != nil {
				in.Log.Debug("previous install's directory kept: not empty", "dir", l)
			}
			continue
		}
		if err := os.Remove(l); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove previous install's %s: %w", l, err)
		}
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("remove cleanup file: %w", err)
	}
	return nil
}

func (in *Installer) plan(archiveDir string, spec *appspec.Server, behavior string) (*plan, error) {
	p := &plan{targets: map[string]int{}}
	root, err := os.OpenRoot(archiveDir)
	if err != nil {
		return nil, fmt.Errorf("open deployment archive: %w", err)
	}
	defer root.Close()
	for _, f := range spec.Files {
		rel := filepath.Clean("/" + f.Source)[1:]
		if rel == "" {
			rel = "."
		}
		fi, err := root.Lstat(rel)
		if err != nil {
			return nil, fmt.Errorf("The deployment failed because the source %s in the application specification is not in the bundle", f.Source)
		}
		src := filepath.Join(archiveDir, rel)
		dst := filepath.Clean(f.Destination)
		if fi.IsDir() {
			in.ancestors(p, dst)
			if err := in.dirCopy(p, root, rel, src, dst, behavior); err != nil {
				return nil, err
			}
			continue
		}
		target := filepath.Join(dst, filepath.Base(src))
		in.ancestors(p, target)
		if err := in.fileCopy(p, src, target, behavior); err != nil {
			return nil, err
		}
	}
	for _, perm := range spec.Permissions {
		obj := filepath.Clean(perm.Object)
		if i, ok := p.targets[obj]; ok && p.ops[i].isFile {
			if hasType(perm, "file") {
				p.perms = append(p.perms, permOp{obj, perm})
			}
			continue
		}
		isDir := false
		if i, ok := p.targets[obj]; ok && p.ops[i].kind == opMkdir {
			isDir = true
		} else if fi, err := os.Stat(obj); err == nil && fi.IsDir() {
			isDir = true
		}
		if !isDir {
			continue
		}
		for _, o := range p.ops {
			if matches(perm, obj, o) {
				p.perms = append(p.perms, permOp{o.dst, perm})
			}
		}
	}
	return p, nil
}

func hasType(perm appspec.Permission, t string) bool {
	return len(perm.Types) == 0 || slices.Contains(perm.Types, t)
}

// matches applies a permission's object, pattern, except and type to one
// planned path, as linux_permission_info.rb does: the path must be under
// object, and pattern and except are simple globs (* and ?) on the path
// relative to object.
func matches(perm appspec.Permission, obj string, o op) bool {
	if o.isFile && !hasType(perm, "file") || !o.isFile && !hasType(perm, "directory") {
		return false
	}
	base := strings.TrimSuffix(obj, "/") + "/"
	if !strings.HasPrefix(o.dst, base) {
		return false
	}
	rel := o.dst[len(base):]
	pattern := perm.Pattern
	if pattern == "" {
		pattern = "**"
	}
	if pattern != "**" && !simpleGlob(pattern, rel) {
		return false
	}
	for _, e := range perm.Except {
		if simpleGlob(e, rel) {
			return false
		}
	}
	return true
}

// simpleGlob matches * (any run of characters) and ? (one character).
func simpleGlob(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(name); i++ {
			if simpleGlob(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	case '?':
		return name != "" && simpleGlob(pattern[1:], name[1:])
	}
	return name != "" && name[0] == pattern[0] && simpleGlob(pattern[1:], name[1:])
}

// ancestors plans the directories missing above dst.
func (in *Installer) ancestors(p *plan, dst string) {
	var missing []string
	for dir := filepath.Dir(dst); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, planned := p.targets[dir]; planned {
			break
		}
		if _, err := os.Lstat(dir); err == nil {
			break
		}
		missing = append(missing, dir)
	}
	slices.Reverse(missing)
	for _, d := range missing {
		p.add(op{kind: opMkdir, dst: d})
	}
}

func (p *plan) add(o op) {
	p.targets[o.dst] = len(p.ops)
	p.ops = append(p.ops, o)
}

func (in *Installer) dirCopy(p *plan, root *os.Root, rel, src, dst, behavior string) error {
	if i, ok := p.targets[dst]; !ok {
		if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
			p.add(op{kind: opMkdir, dst: dst})
		}
	} else if p.ops[i].kind != opMkdir {
		return fmt.Errorf("The deployment failed because the application specification copies both a file and a directory to %s", dst)
	}
	entries, err := fs.ReadDir(root.FS(), filepath.ToSlash(rel))
	if err != nil {
		return fmt.Errorf("read bundle directory %s: %w", rel, err)
	}
	for _, e := range entries {
		childRel := filepath.Join(rel, e.Name())
		childSrc := filepath.Join(src, e.Name())
		childDst := filepath.Join(dst, e.Name())
		if e.IsDir() {
			if err := in.dirCopy(p, root, childRel, childSrc, childDst, behavior); err != nil {
				return err
			}
			continue
		}
		if err := in.fileCopy(p, childSrc, childDst, behavior); err != nil {
			return err
		}
	}
	return nil
}

func (in *Installer) fileCopy(p *plan, src, dst, behavior string) error {
	if i, ok := p.targets[dst]; ok {
		return fmt.Errorf("The deployment failed because the application specification specifies two source files named %s and %s for the same destination %s", src, p.ops[i].src, dst)
	}
	if _, err := os.Lstat(dst); err == nil {
		switch behavior {
		case appspec.FileExistsDisallow:
			return fmt.Errorf("The deployment failed because a specified file already exists at this location: %s", dst)
		case appspec.FileExistsOverwrite:
		case appspec.FileExistsRetain:
			in.Log.Info("file exists; retained", "file", dst)
			return nil
		default:
			return fmt.Errorf("The deployment failed because an invalid option was specified for fileExistsBehavior: %s. Valid options include OVERWRITE, RETAIN, and DISALLOW.", behavior)
		}
	}
	p.add(op{kind: opCopy, src: src, dst: dst, isFile: true})
	return nil
}

func (in *Installer) execute(groupID string, p *plan) error {
	cf, err := os.OpenFile(in.CleanupFile(groupID), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create cleanup file: %w", err)
	}
	defer cf.Close()
	w := bufio.NewWriter(cf)
	record := func(path string) error {
		if _, err := w.WriteString(path + "\n"); err != nil {
			return err
		}
		// Flushed per path, so an install that dies half way is still
		// cleaned up by the next one.
		return w.Flush()
	}
	for _, o := range p.ops {
		switch o.kind {
		case opMkdir:
			if err := os.Mkdir(o.dst, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create directory %s: %w", o.dst, err)
			}
		case opCopy:
			if err := copyFile(o.src, o.dst); err != nil {
				return fmt.Errorf("copy %s to %s: %w", o.src, o.dst, err)
			}
		}
		if err := record(o.dst); err != nil {
			return fmt.Errorf("write cleanup file: %w", err)
		}
	}
	for _, po := range p.perms {
		if err := in.apply(po.path, po.p); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies one file, keeping its mode and modification time (a link
// stays a link). An existing destination is replaced, never written
// through: a link there could point anywhere.
func copyFile(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if dfi, err := os.Lstat(dst); err == nil {
		if dfi.IsDir() {
			return fmt.Errorf("%s is a directory", dst)
		}
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(dst, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

// apply sets one permission on one installed path. Links are not followed:
// their owner is changed with lchown and their mode left alone.
func (in *Installer) apply(path string, perm appspec.Permission) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("set permissions on %s: %w", path, err)
	}
	link := fi.Mode()&fs.ModeSymlink != 0
	if perm.Mode != nil && !link {
		if err := os.Chmod(path, perm.Mode.FileMode()); err != nil {
			return fmt.Errorf("set mode %s on %s: %w", perm.Mode.Text, path, err)
		}
	}
	if perm.Owner != "" || perm.Group != "" {
		uid, gid := -1, -1
		if perm.Owner != "" {
			if uid, err = lookupUser(perm.Owner); err != nil {
				return fmt.Errorf("set owner of %s: %w", path, err)
			}
		}
		if perm.Group != "" {
			if gid, err = lookupGroup(perm.Group); err != nil {
				return fmt.Errorf("set group of %s: %w", path, err)
			}
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("set owner %s:%s on %s: %w", perm.Owner, perm.Group, path, err)
		}
	}
	if len(perm.ACLs) > 0 {
		in.Log.Warn("permissions: acls are not supported by this agent; left alone", "path", path)
	}
	if perm.Context != nil {
		in.Log.Warn("permissions: SELinux context is not supported by this agent; left alone", "path", path)
	}
	return nil
}

func lookupUser(name string) (int, error) {
	if u, err := user.Lookup(name); err == nil {
		return strconv.Atoi(u.Uid)
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	return -1, fmt.Errorf("no such user %q", name)
}

func lookupGroup(name string) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	return -1, fmt.Errorf("no such group %q", name)
}
