package ecstest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry is an OCI registry (go-containerregistry's in-memory one) on a
// loopback port. Docker treats 127.0.0.0/8 registries as insecure, so it
// pulls over plain HTTP.
type Registry struct {
	Host string // 127.0.0.1:port
	srv  *http.Server
}

// StartRegistry serves a registry on 127.0.0.1:0.
func StartRegistry() (*Registry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: ln.Addr().String(), srv: &http.Server{
		Handler:           registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: 10 * time.Second,
	}}
	go r.srv.Serve(ln)
	return r, nil
}

// Close stops the registry.
func (r *Registry) Close() { r.srv.Close() }

// PushVersionServer pushes a FROM-scratch image whose only file is the
// static versionserver at /versionserver (its entry point), with env baked
// into the image config, as Host/repo:tag, and returns that reference.
func (r *Registry) PushVersionServer(bin, repo, tag string, env map[string]string) (string, error) {
	return r.PushBinary(bin, "versionserver", repo, tag, []string{"/versionserver"}, env, "8080/tcp")
}

// PushBinary pushes a FROM-scratch linux/amd64 image whose only file is
// the static binary bin at /file, with entrypoint (none: an image that says
// nothing to run), env and exposed ports in its config, as Host/repo:tag,
// and returns that reference.
func (r *Registry) PushBinary(bin, file, repo, tag string, entrypoint []string, env map[string]string, ports ...string) (string, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	if err := tw.WriteHeader(&tar.Header{Name: file, Mode: 0o755, Size: int64(len(exe)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return "", err
	}
	tw.Write(exe)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	})
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	sort.Strings(envList)
	cf.Config = v1.Config{Entrypoint: entrypoint, Env: envList}
	if len(ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range ports {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return "", err
	}
	ref := r.Host + "/" + repo + ":" + tag
	parsed, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(parsed, img); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return ref, nil
}

// DockerAnswers says whether a Docker daemon answers on the default socket.
func DockerAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").Run() == nil
}

// Container is one line of `docker ps -a`.
type Container struct{ ID, Image, State, Names string }

// Containers lists every container (running or not) whose image reference
// starts with imagePrefix (e.g. a registry's Host).
func Containers(imagePrefix string) ([]Container, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "ps", "-a", "--no-trunc", "--format", "{{.ID}}\t{{.Image}}\t{{.State}}\t{{.Names}}").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("docker ps: %v: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("docker ps: %v", err)
	}
	var cs []Container
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 4 && strings.HasPrefix(f[1], imagePrefix) {
			cs = append(cs, Container{ID: f[0], Image: f[1], State: f[2], Names: f[3]})
		}
	}
	return cs, nil
}

// RemoveContainers force-removes the containers of Containers(imagePrefix)
// and returns how many there were.
func RemoveContainers(imagePrefix string) int {
	cs, _ := Containers(imagePrefix)
	if len(cs) == 0 {
		return 0
	}
	args := []string{"rm", "-f"}
	for _, c := range cs {
		args = append(args, c.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec.CommandContext(ctx, "docker", args...).Run()
	return len(cs)
}

// RemoveImages removes the local images pulled from the registry host.
func RemoveImages(imagePrefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "images", "--format", "{{.Repository}}:{{.Tag}}").Output()
	if err != nil {
		return
	}
	args := []string{"rmi", "-f"}
	for _, ref := range strings.Fields(string(out)) {
		if strings.HasPrefix(ref, imagePrefix) {
			args = append(args, ref)
		}
	}
	if len(args) > 2 {
		exec.CommandContext(ctx, "docker", args...).Run()
	}
}
