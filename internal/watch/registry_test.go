package watch

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// startRegistry serves go-containerregistry's in-process registry on
// 127.0.0.1, behind basic auth when user is set, and a switch that makes
// it answer 429.
func startRegistry(t *testing.T, user, pass string) (host string, limited *bool) {
	host, limited, _ = startCountingRegistry(t, user, pass)
	return host, limited
}

func startCountingRegistry(t *testing.T, user, pass string) (host string, limited *bool, pings *atomic.Int64) {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	limited = new(bool)
	pings = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			pings.Add(1)
		}
		if *limited {
			w.Header().Set("Retry-After", "120")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
			return
		}
		if user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}`, http.StatusUnauthorized)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), limited, pings
}

func pushRandom(t *testing.T, ref string, opts ...remote.Option) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

func TestRemoteRegistry(t *testing.T) {
	ctx := context.Background()
	host, limited, pings := startCountingRegistry(t, "", "")
	d1 := pushRandom(t, host+"/team/app:1.0.0")
	d2 := pushRandom(t, host+"/team/app:latest")
	repo, _ := name.NewRepository(host + "/team/app")

	r := &RemoteRegistry{}
	got, err := r.Digest(ctx, repo, "latest", nil)
	if err != nil || got != d2 {
		t.Fatalf("Digest(latest) = %s %v, want %s", got, err, d2)
	}
	tags, err := r.Tags(ctx, repo, nil)
	if err != nil || strings.Join(tags, ",") != "1.0.0,latest" {
		t.Fatalf("Tags = %v %v", tags, err)
	}
	if got, _ := r.Digest(ctx, repo, "1.0.0", nil); got != d1 {
		t.Fatalf("Digest(1.0.0) = %s", got)
	}
	if _, err := r.Digest(ctx, repo, "nope", nil); err == nil {
		t.Fatal("Digest of a missing tag succeeded")
	}
	// The login is kept between checks: two pushes' pings, one check's.
	if n := pings.Load(); n != 3 {
		t.Errorf("registry pinged %d times, want 3 (two pushes and the first check)", n)
	}

	*limited = true
	_, err = r.Digest(ctx, repo, "latest", nil)
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Minute {
		t.Fatalf("rate-limited Digest = %v, want a RateLimitError with Retry-After 2m", err)
	}
}

func TestRemoteRegistryAuth(t *testing.T) {
	ctx := context.Background()
	host, _ := startRegistry(t, "ci", "s3cret")
	// Pushing needs the login too.
	d := pushRandom(t, host+"/app:latest", remote.WithAuth(basicAuth("ci", "s3cret")))
	repo, _ := name.NewRepository(host + "/app")

	if _, err := (&RemoteRegistry{}).Digest(ctx, repo, "latest", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("anonymous Digest = %v, want a 401", err)
	}
	if got, err := (&RemoteRegistry{}).Digest(ctx, repo, "latest", &Credentials{Username: "ci", Password: "s3cret"}); err != nil || got != d {
		t.Fatalf("Digest with the rule's credentials = %s %v", got, err)
	}
	if _, err := (&RemoteRegistry{}).Digest(ctx, repo, "latest", &Credentials{Username: "ci", Password: "wrong"}); err == nil {
		t.Fatal("bad credentials accepted")
	}

	cfg := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret"))
	if err := os.WriteFile(cfg, []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := (&RemoteRegistry{DockerConfig: cfg}).Digest(ctx, repo, "latest", nil); err != nil || got != d {
		t.Fatalf("Digest with config.json = %s %v", got, err)
	}
}

type fakeECR struct{ calls int }

func (f *fakeECR) AuthorizationToken(_ context.Context, id, region string) (string, time.Time, error) {
	f.calls++
	if id != "123456789012" || region != "eu-west-1" {
		return "", time.Time{}, errors.New("wrong registry")
	}
	return base64.StdEncoding.EncodeToString([]byte("AWS:token")), time.Now().Add(12 * time.Hour), nil
}

func TestECRLoginIsCached(t *testing.T) {
	ecr := &fakeECR{}
	r := &RemoteRegistry{ECR: ecr}
	repo, _ := name.NewRepository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web")
	for range 3 {
		a, err := r.authenticator(context.Background(), repo, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := a.Authorization()
		if cfg.Username != "AWS" || cfg.Password != "token" {
			t.Fatalf("ECR login = %+v", cfg)
		}
	}
	if ecr.calls != 1 {
		t.Fatalf("GetAuthorizationToken called %d times, want 1", ecr.calls)
	}
}

func basicAuth(u, p string) authn.Authenticator { return &authn.Basic{Username: u, Password: p} }
