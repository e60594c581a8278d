package process_test

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cutover/cutover/internal/runtime"
	"github.com/cutover/cutover/internal/runtime/process"
	"github.com/cutover/cutover/internal/runtime/runtimetest"
)

// buildVersionServer compiles the test workload once per test binary.
func buildVersionServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "versionserver")
	cmd := exec.Command("go", "build", "-o", bin, "../../../test/testdata/versionserver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build versionserver: %v\n%s", err, out)
	}
	return bin
}

func newRuntime(t *testing.T, dir string) *process.Runtime {
	t.Helper()
	rt, err := process.New(process.Options{StateDir: dir, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rt
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

func TestConformance(t *testing.T) {
	bin := buildVersionServer(t)
	dir := t.TempDir()
	rt := newRuntime(t, dir)
	t.Cleanup(func() { rt.Close() })
	runtimetest.Run(t, rt, process.ImagePrefix+bin, runtimetest.Options{
		Binary: bin,
		Reopen: func(t *testing.T) runtime.Runtime {
			// As a server restart would: the old instance stops watching,
			// the new one reads the state directory.
			rt.Close()
			return newRuntime(t, dir)
		},
	})
}
