package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/client"

	"github.com/cutover/cutover/internal/runtime"
	"github.com/cutover/cutover/internal/runtime/docker"
	"github.com/cutover/cutover/internal/runtime/runtimetest"
)

// dockerOrSkip skips when no daemon answers; CI runs test/dockerd.sh first.
func dockerOrSkip(t *testing.T) {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Skipf("docker client: %v (run test/dockerd.sh to start a daemon)", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Skipf("no Docker daemon answers (%v): run test/dockerd.sh to start one", err)
	}
}

// pushVersionServer builds the versionserver statically and pushes a
// FROM-scratch image of it (one layer: /versionserver) to an in-process
// registry on 127.0.0.1, returning the image reference.
func pushVersionServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "versionserver")
	cmd := exec.Command("go", "build", "-o", bin, "../../../test/testdata/versionserver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build versionserver: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	if err := tw.WriteHeader(&tar.Header{Name: "versionserver", Mode: 0o755, Size: int64(len(exe)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(exe)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{Entrypoint: []string{"/versionserver"}, ExposedPorts: map[string]struct{}{"8080/tcp": {}}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	ref := strings.TrimPrefix(reg.URL, "http://") + "/versionserver:v1"
	parsed, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(parsed, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}

func newRuntime(t *testing.T, owner string) *docker.Runtime {
	t.Helper()
	rt, err := docker.New(context.Background(), docker.Options{
		Owner:        owner,
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		StopTimeout:  5 * time.Second,
		PollInterval: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rt
}

func TestConformance(t *testing.T) {
	dockerOrSkip(t)
	image := pushVersionServer(t)
	owner := "cutover-test-" + time.Now().Format("150405.000000")
	rt := newRuntime(t, owner)
	t.Cleanup(func() { rt.Close() })
	runtimetest.Run(t, rt, image, runtimetest.Options{
		Binary: "/versionserver",
		Reopen: func(t *testing.T) runtime.Runtime {
			rt.Close()
			return newRuntime(t, owner)
		},
	})
}

func TestPullErrorNamesImage(t *testing.T) {
	dockerOrSkip(t)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	image := strings.TrimPrefix(reg.URL, "http://") + "/nothing-here:v9"
	rt := newRuntime(t, "cutover-test-pull")
	defer rt.Close()
	_, err := rt.Start(context.Background(), runtime.TaskSpec{ID: "pull-fails", Containers: []runtime.ContainerSpec{{Name: "a", Image: image, Essential: true}}})
	if !errors.Is(err, runtime.ErrCannotPullContainer) || !strings.Contains(err.Error(), image) {
		t.Fatalf("Start with a missing image: err = %v, want ErrCannotPullContainer naming %s", err, image)
	}
	if _, err := rt.Inspect(context.Background(), "pull-fails"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a task whose image could not be pulled exists: %v", err)
	}
	t.Logf("pull error: %v", err)
}
