package agent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// layout names the files under the agent's root directory, the same tree
// AWS's agent keeps, so a host can switch between the two agents.
type layout struct{ root string }

func (l layout) deploymentDir(group, deployment string) string {
	return filepath.Join(l.root, group, deployment)
}

func (l layout) archiveDir(deployDir string) string {
	return filepath.Join(deployDir, "deployment-archive")
}

func (l layout) instructionsDir() string { return filepath.Join(l.root, "deployment-instructions") }

func (l layout) lastSuccessfulFile(group string) string {
	return filepath.Join(l.instructionsDir(), group+"_last_successful_install")
}

func (l layout) mostRecentFile(group string) string {
	return filepath.Join(l.instructionsDir(), group+"_most_recent_install")
}

func (l layout) ongoingDir() string { return filepath.Join(l.root, "ongoing-deployment") }

// StateFileName is the agent's state file under the root directory, read
// by `cutover agent status`.
const StateFileName = "cutover-agent-state.json"

func (l layout) stateFile() string { return filepath.Join(l.root, StateFileName) }

// readPointer reads a last-successful or most-recent file: the deployment
// directory it names, or "" when there is none.
func readPointer(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writePointer(name, dir string) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(name, []byte(dir))
}

func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// pruneRevisions keeps at most max deployment directories of a group, the
// current one included, removing the oldest first and never the group's
// last successful one (command_executor.rb, cleanup_old_archives).
func (l layout) pruneRevisions(group, current string, max int) ([]string, error) {
	groupDir := filepath.Join(l.root, group)
	entries, err := os.ReadDir(groupDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type rev struct {
		path  string
		mtime int64
	}
	var others []rev
	for _, e := range entries {
		p := filepath.Join(groupDir, e.Name())
		if p == current || !e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		others = append(others, rev{p, fi.ModTime().UnixNano()})
	}
	extra := len(others) - max + 1
	if extra <= 0 {
		return nil, nil
	}
	last := readPointer(l.lastSuccessfulFile(group))
	others = slices.DeleteFunc(others, func(r rev) bool { return r.path == last })
	sort.Slice(others, func(i, j int) bool { return others[i].mtime < others[j].mtime })
	var removed []string
	for _, r := range others[:min(extra, len(others))] {
		if err := os.RemoveAll(r.path); err != nil {
			return removed, err
		}
		removed = append(removed, r.path)
	}
	return removed, nil
}
