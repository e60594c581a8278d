package ecs

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	emptyimage "github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/client"

	"github.com/cutover/cutover/internal/runtime"
	"github.com/cutover/cutover/internal/runtime/docker"
)

// dockerOrSkip skips when no daemon answers (test/dockerd.sh starts one).
func dockerOrSkip(t *testing.T) {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Skipf("docker client: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(bg, 3*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Skipf("no Docker daemon answers (%v): run test/dockerd.sh", err)
	}
}

// pushVersionServer pushes a FROM-scratch image holding only the
// versionserver to a registry on 127.0.0.1 and returns its reference.
func pushVersionServer(t *testing.T) string {
	t.Helper()
	bin, err := versionServer()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	tw.WriteHeader(&tar.Header{Name: "versionserver", Mode: 0o755, Size: int64(len(exe)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
	tw.Write(exe)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(emptyimage.Image, layer)
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
	if img, err = mutate.ConfigFile(img, cf); err != nil {
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

// TestDockerCodeDeployService is the core scheduler test on real
// containers: the initial task set's tasks run, register, turn healthy and
// serve through the listener; a restarted scheduler adopts them.
func TestDockerCodeDeployService(t *testing.T) {
	t.Parallel()
	dockerOrSkip(t)
	image := pushVersionServer(t)
	owner := "cutover-ecs-test-" + randomHex(4)
	newDocker := func(t *testing.T, _ string) runtime.Runtime {
		rt, err := docker.New(bg, docker.Options{Owner: owner, Log: quietLog(), StopTimeout: 3 * time.Second, PollInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	e := newEnv(t, envOpts{runtime: newDocker, image: image})
	_, port, _, setID := e.codeDeployService("web", 2)
	e.waitSteady("apps", "web", setID, 2, 90*time.Second)
	if body, err := fetch(port); err != nil || !strings.Contains(body, `"v1"`) {
		t.Fatalf("through the listener: %q %v", body, err)
	}
	before, _ := e.svc.TaskSetTasks(bg, "apps", "web", setID)

	e.stopRun()
	e.rt.Close()
	e.rt = newDocker(t, "")
	e.svc = e.newService(t)
	e.run()
	e.waitSteady("apps", "web", setID, 2, 60*time.Second)
	after, _ := e.svc.TaskSetTasks(bg, "apps", "web", setID)
	if len(after) != len(before) {
		t.Fatalf("before restart %+v, after %+v", before, after)
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].Endpoint != before[i].Endpoint {
			t.Errorf("task %d: before %+v after %+v", i, before[i], after[i])
		}
	}
	if list, err := e.rt.List(bg); err != nil || len(list) != 2 {
		t.Errorf("docker lists %d tasks (%v), want 2", len(list), err)
	}
}
