package appspec

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// bundlePath cleans a path inside the bundle (a files source or a script
// location) and refuses one that climbs out of it. The agent joins the path
// onto the archive directory (File.join collapses the slash), so a leading
// "/" still means the bundle root and "/" alone is the whole bundle; ".."
// would reach outside, which the agent does not stop and cutover does. On
// Windows "\" separates too. The result is slash-separated and relative,
// "." for the root.
func bundlePath(p string, windows bool) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", errors.New("path contains a NUL byte")
	}
	s := p
	if windows {
		s = strings.ReplaceAll(s, `\`, "/")
	}
	s = strings.TrimLeft(s, "/")
	if s == "" {
		return ".", nil
	}
	c := path.Clean(s)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q leads out of the bundle; paths are relative to the bundle root", p)
	}
	return c, nil
}

var windowsAbsRE = regexp.MustCompile(`^([A-Za-z]:[\\/]|\\\\[^\\]+\\[^\\]+)`)

// checkDestination requires a fully qualified path, as the user guide does
// ("/root/destination/directory", "c:\destination\folder"); a relative one
// would land wherever the agent's working directory is.
func checkDestination(p string, windows bool) error {
	if strings.ContainsRune(p, 0) {
		return errors.New("path contains a NUL byte")
	}
	if windows {
		if !windowsAbsRE.MatchString(p) {
			return fmt.Errorf("%q is not a fully qualified Windows path such as c:\\app", p)
		}
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q is not an absolute path; destinations are absolute, such as /srv/app", p)
	}
	return nil
}

// SourceIn returns where a files entry's source lies under bundleDir (the
// unpacked deployment-archive directory), refusing a source that leads out
// of it. Symbolic links inside the bundle are the installer's concern.
func (s *Server) SourceIn(bundleDir string, f File) (string, error) {
	rel, err := bundlePath(f.Source, s.OS == "windows")
	if err != nil {
		return "", &Error{Path: "files.source", Msg: err.Error()}
	}
	return filepath.Join(bundleDir, filepath.FromSlash(rel)), nil
}

// ScriptIn returns where a script lies under bundleDir, refusing a location
// that leads out of it.
func (s *Server) ScriptIn(bundleDir string, sc Script) (string, error) {
	rel, err := bundlePath(sc.Location, s.OS == "windows")
	if err != nil {
		return "", &Error{Path: "hooks.location", Msg: err.Error()}
	}
	if rel == "." {
		return "", &Error{Path: "hooks.location", Msg: "a script location must name a file, not the bundle root"}
	}
	return filepath.Join(bundleDir, filepath.FromSlash(rel)), nil
}
