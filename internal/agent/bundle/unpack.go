// Package bundle fetches a revision's bundle (from an S3-compatible store or
// the host's own disk) and unpacks it into the deployment's archive
// directory. Archives come from outside, so unpacking refuses anything that
// would reach outside the destination: ../ and absolute names, links that
// resolve outside it, device files. Every write goes through an os.Root, so
// even a case the checks miss cannot write elsewhere.
package bundle

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// HostileError is an archive refused for what it tries to do.
type HostileError struct {
	Entry  string
	Reason string
}

func (e *HostileError) Error() string {
	return fmt.Sprintf("refusing the bundle: entry %q %s", e.Entry, e.Reason)
}

// Unpack extracts archive (tar, tgz or zip) into dst, which must not exist
// yet. On error dst is removed. When the archive's only top-level entry is a
// directory holding an AppSpec, its contents become dst, as AWS's agent does.
func Unpack(archive, bundleType, dst string) (err error) {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("create archive directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dst)
		}
	}()
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	x := &extractor{root: root}
	switch bundleType {
	case "tar", "tgz":
		err = x.tar(archive, bundleType == "tgz")
	case "zip":
		err = x.zip(archive)
	default:
		return fmt.Errorf("unsupported bundle type %q (tar, tgz or zip)", bundleType)
	}
	if err != nil {
		return err
	}
	for _, d := range x.dirTimes {
		_ = root.Chtimes(d.name, d.mtime, d.mtime)
	}
	if err := stripTopDir(dst); err != nil {
		return err
	}
	// Checked on the final layout: stripping a directory changes what a
	// relative link's ../ means.
	return CheckLinks(dst)
}

// CopyDir copies a directory revision (Local Directory) into dst with the
// same checks as Unpack.
func CopyDir(src, dst string) (err error) {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("create archive directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dst)
		}
	}()
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	x := &extractor{root: root}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var target string
		if info.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		var body io.Reader
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			body = f
		}
		return x.entry(filepath.ToSlash(rel), info.Mode(), info.ModTime(), target, "", body)
	})
	if err != nil {
		return err
	}
	for _, d := range x.dirTimes {
		_ = root.Chtimes(d.name, d.mtime, d.mtime)
	}
	return CheckLinks(dst)
}

type dirTime struct {
	name  string
	mtime time.Time
}

type extractor struct {
	root     *os.Root
	dirTimes []dirTime
}

func (x *extractor) tar(archive string, gz bool) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("bundle is not gzip-compressed (tgz): %w", err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return errors.New("bundle is an empty tar archive")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar bundle: %w", err)
		}
		n++
		mode := h.FileInfo().Mode()
		var target, link string
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
			target = h.Linkname
		case tar.TypeLink:
			link = h.Linkname
			mode = 0
		case tar.TypeXGlobalHeader:
			continue
		default:
			if mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0 {
				return &HostileError{Entry: h.Name, Reason: "is a device, pipe or socket"}
			}
			return &HostileError{Entry: h.Name, Reason: fmt.Sprintf("has unsupported tar type %q", h.Typeflag)}
		}
		if err := x.entry(h.Name, mode, h.ModTime, target, link, tr); err != nil {
			return err
		}
	}
}

func (x *extractor) zip(archive string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("read zip bundle: %w", err)
	}
	defer zr.Close()
	if len(zr.File) == 0 {
		return errors.New("bundle is an empty zip archive")
	}
	for _, f := range zr.File {
		mode := f.Mode()
		if mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0 {
			return &HostileError{Entry: f.Name, Reason: "is a device, pipe or socket"}
		}
		// Zips made on Windows carry no Unix mode.
		if f.CreatorVersion>>8 != 3 {
			if strings.HasSuffix(f.Name, "/") {
				mode = fs.ModeDir | 0o755
			} else {
				mode = 0o644
			}
		}
		var target string
		var body io.Reader
		if mode&fs.ModeSymlink != 0 || mode.IsRegular() {
			rc, err := f.Open()
			if err != nil {
				return fmt.Errorf("read zip entry %q: %w", f.Name, err)
			}
			if mode&fs.ModeSymlink != 0 {
				b, err := io.ReadAll(io.LimitReader(rc, 4096))
				rc.Close()
				if err != nil {
					return fmt.Errorf("read zip entry %q: %w", f.Name, err)
				}
				target = string(b)
			} else {
				defer rc.Close()
				body = rc
			}
		}
		if err := x.entry(f.Name, mode, f.Modified, target, "", body); err != nil {
			return err
		}
	}
	return nil
}

// localName checks an archive entry name and returns it as a path relative
// to the destination.
func localName(name string) (string, error) {
	n := strings.ReplaceAll(name, "\\", "/")
	if strings.HasPrefix(n, "/") || (len(n) > 1 && n[1] == ':') {
		return "", &HostileError{Entry: name, Reason: "has an absolute path"}
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", &HostileError{Entry: name, Reason: "climbs out of the bundle with ../"}
		}
	}
	if strings.ContainsRune(n, 0) {
		return "", &HostileError{Entry: name, Reason: "has a NUL byte in its name"}
	}
	n = path.Clean(n)
	if n == "." {
		return "", nil
	}
	return filepath.FromSlash(n), nil
}

func (x *extractor) entry(name string, mode fs.FileMode, mtime time.Time, target, hardlink string, body io.Reader) error {
	rel, err := localName(name)
	if err != nil {
		return err
	}
	if rel == "" {
		return nil
	}
	// A later entry must not be written through a link an earlier entry
	// made; os.Root would keep it inside, but it is hostile all the same.
	if fi, err := x.root.Lstat(rel); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return &HostileError{Entry: name, Reason: "replaces a symbolic link the bundle made"}
	}
	if dir := filepath.Dir(rel); dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return wrapRootErr(name, err)
		}
	}
	switch {
	case hardlink != "":
		old, err := localName(hardlink)
		if err != nil || old == "" {
			return &HostileError{Entry: name, Reason: fmt.Sprintf("is a hard link to %q, outside the bundle", hardlink)}
		}
		if err := x.root.Link(old, rel); err != nil {
			return wrapRootErr(name, err)
		}
	case mode&fs.ModeSymlink != 0:
		if err := checkLinkTarget(x.root, rel, target); err != nil {
			return &HostileError{Entry: name, Reason: err.Error()}
		}
		if err := x.root.Symlink(target, rel); err != nil {
			return wrapRootErr(name, err)
		}
	case mode.IsDir():
		if err := x.root.MkdirAll(rel, 0o755); err != nil {
			return wrapRootErr(name, err)
		}
		_ = x.root.Chmod(rel, mode.Perm()|0o700)
		x.dirTimes = append(x.dirTimes, dirTime{rel, mtime})
	case mode.IsRegular():
		f, err := x.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return wrapRootErr(name, err)
		}
		if body != nil {
			if _, err := io.Copy(f, body); err != nil {
				f.Close()
				return fmt.Errorf("write %q: %w", name, err)
			}
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %q: %w", name, err)
		}
		if err := x.root.Chmod(rel, unixMode(mode)); err != nil {
			return wrapRootErr(name, err)
		}
		_ = x.root.Chtimes(rel, mtime, mtime)
	default:
		return &HostileError{Entry: name, Reason: "is a device, pipe or socket"}
	}
	return nil
}

// unixMode keeps the permission bits and setuid, setgid and sticky, as tar
// -p does.
func unixMode(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

func wrapRootErr(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
		return &HostileError{Entry: name, Reason: "would be written outside the bundle through a link"}
	}
	return fmt.Errorf("unpack %q: %w", name, err)
}

// checkLinkTarget refuses a symbolic link at rel whose target, resolved
// through the links already in root, leaves root.
func checkLinkTarget(root *os.Root, rel, target string) error {
	if target == "" {
		return errors.New("is a symbolic link with an empty target")
	}
	if filepath.IsAbs(target) {
		return fmt.Errorf("is a symbolic link to the absolute path %q, outside the bundle", target)
	}
	parent, err := resolve(root, splitPath(filepath.Dir(rel)), 0)
	if err != nil {
		return err
	}
	if _, err := resolve(root, append(parent, splitPath(target)...), 0); err != nil {
		return fmt.Errorf("is a symbolic link to %q, outside the bundle", target)
	}
	return nil
}

// CheckLinks walks dir and refuses any symbolic link that resolves outside
// it. Links are checked one by one as they are unpacked; this catches a
// link made safe to write but unsafe once a later link changed what its
// path means.
func CheckLinks(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if err := checkLinkTarget(root, rel, target); err != nil {
			return &HostileError{Entry: filepath.ToSlash(rel), Reason: err.Error()}
		}
		return nil
	})
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(filepath.ToSlash(p), "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}

var errEscapes = errors.New("resolves outside the bundle")

// resolve walks parts from root, following the links it meets, and returns
// the real path as components under root. A component that does not exist
// yet is taken as written.
func resolve(root *os.Root, parts []string, depth int) ([]string, error) {
	if depth > 40 {
		return nil, errors.New("has too many levels of symbolic links")
	}
	var cur []string
	for i, p := range parts {
		if p == ".." {
			if len(cur) == 0 {
				return nil, errEscapes
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur[:len(cur):len(cur)], p)
		fi, err := root.Lstat(filepath.Join(next...))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		t, err := root.Readlink(filepath.Join(next...))
		if err != nil {
			return nil, err
		}
		if filepath.IsAbs(t) {
			return nil, errEscapes
		}
		rest := append(append(append([]string{}, cur...), splitPath(t)...), parts[i+1:]...)
		return resolve(root, rest, depth+1)
	}
	return cur, nil
}

var appspecRE = regexp.MustCompile(`(?i)appspec`)

// stripTopDir moves a lone top-level directory's contents up when it holds
// the AppSpec (AWS's agent: "Stripping leading directory from archive
// bundle contents").
func stripTopDir(dst string) error {
	entries, err := os.ReadDir(dst)
	if err != nil {
		return err
	}
	if len(entries) != 1 || !entries[0].IsDir() {
		return nil
	}
	inner := filepath.Join(dst, entries[0].Name())
	sub, err := os.ReadDir(inner)
	if err != nil {
		return err
	}
	found := false
	for _, e := range sub {
		if appspecRE.MatchString(e.Name()) {
			found = true
			break
		}
	}
	if !found {
		return nil
	}
	tmp := dst + "-temp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Rename(dst, tmp); err != nil {
		return fmt.Errorf("strip leading directory: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, entries[0].Name()), dst); err != nil {
		return fmt.Errorf("strip leading directory: %w", err)
	}
	return os.Remove(tmp)
}
