package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAWSCLI drives the service with the AWS CLI over a real listener:
// plain HTTP (signed payloads, header checksums) and HTTPS (the CLI then
// sends STREAMING-UNSIGNED-PAYLOAD-TRAILER with trailing CRC32s).
func TestAWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not on PATH")
	}
	if testing.Short() {
		t.Skip("slow: runs the AWS CLI")
	}
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpt{tls: tlsOn})
			// newEnv serves through httptest; the CLI gets its own
			// http.Server on a fresh port to be sure nothing test-only
			// is in the way.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			payloadForms := map[string]bool{}
			spy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					h := r.Header.Get("X-Amz-Content-Sha256")
					if len(h) == 64 {
						h = "<sha256>"
					}
					mu.Lock()
					payloadForms[h] = true
					mu.Unlock()
				}
				e.srv.Config.Handler.ServeHTTP(w, r)
			})
			hs := &http.Server{Handler: spy, ReadHeaderTimeout: 10 * time.Second}
			scheme := "http"
			if tlsOn {
				scheme = "https"
				hs.TLSConfig = e.srv.TLS
				go hs.ServeTLS(ln, "", "")
			} else {
				go hs.Serve(ln)
			}
			t.Cleanup(func() { hs.Close() })
			endpoint := scheme + "://" + ln.Addr().String()

			dir := t.TempDir()
			run := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				full := append([]string{"--endpoint-url", endpoint, "--region", testRegion, "--output", "json"}, args...)
				if tlsOn {
					full = append(full, "--no-verify-ssl")
				}
				cmd := exec.CommandContext(ctx, awsBin, full...)
				var base []string
				for _, kv := range os.Environ() {
					if !strings.HasPrefix(kv, "AWS_") {
						base = append(base, kv)
					}
				}
				cmd.Env = append(base,
					"AWS_ACCESS_KEY_ID="+testKeyID, "AWS_SECRET_ACCESS_KEY="+testSecret,
					"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
					"PYTHONWARNINGS=ignore")
				var out, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
				}
				return out.String()
			}
			write := func(name string, b []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			small := write("small.txt", []byte("small bundle contents\n"))
			bigData := randomBytes(20<<20, 9)
			big := write("big.bin", bigData)

			run("s3api", "create-bucket", "--bucket", "cli-bkt")
			run("s3", "cp", small, "s3://cli-bkt/dir/small.txt")
			run("s3", "cp", big, "s3://cli-bkt/dir/big.bin")
			if ls := run("s3", "ls", "s3://cli-bkt/", "--recursive"); !strings.Contains(ls, "dir/small.txt") || !strings.Contains(ls, "dir/big.bin") {
				t.Fatalf("s3 ls: %s", ls)
			}
			if ls := run("s3", "ls", "s3://cli-bkt/"); !strings.Contains(ls, "PRE dir/") {
				t.Fatalf("s3 ls with delimiter: %s", ls)
			}
			if ls := run("s3", "ls"); !strings.Contains(ls, "cli-bkt") {
				t.Fatalf("s3 ls buckets: %s", ls)
			}

			// The 20 MiB copy went up in parts.
			info, err := e.svc.Head(context.Background(), "cli-bkt", "dir/big.bin", "")
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(len(bigData)) || !strings.Contains(info.ETag, "-") {
				t.Fatalf("big object %+v", info)
			}
			got := filepath.Join(dir, "big.out")
			run("s3", "cp", "s3://cli-bkt/dir/big.bin", got)
			if b, _ := os.ReadFile(got); !bytes.Equal(b, bigData) {
				t.Fatalf("downloaded %d bytes differ", len(b))
			}

			run("s3api", "put-object", "--bucket", "cli-bkt", "--key", "api/obj.txt", "--body", small,
				"--content-type", "text/plain", "--metadata", "rev=7")
			var head struct {
				ContentType string
				Metadata    map[string]string
				ETag        string
			}
			got2 := filepath.Join(dir, "obj.out")
			if err := json.Unmarshal([]byte(run("s3api", "get-object", "--bucket", "cli-bkt", "--key", "api/obj.txt", got2)), &head); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(got2); string(b) != "small bundle contents\n" || head.ContentType != "text/plain" || head.Metadata["rev"] != "7" {
				t.Fatalf("get-object: %q %+v", b, head)
			}
			var list struct {
				Contents []struct {
					Key  string
					Size int64
				}
			}
			if err := json.Unmarshal([]byte(run("s3api", "list-objects-v2", "--bucket", "cli-bkt", "--prefix", "dir/")), &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Contents) != 2 || list.Contents[0].Key != "dir/big.bin" || list.Contents[1].Key != "dir/small.txt" {
				t.Fatalf("list-objects-v2: %+v", list)
			}
			want := "<sha256>"
			if tlsOn {
				want = streamingUnsignedTrail
			}
			mu.Lock()
			if !payloadForms[want] {
				t.Errorf("the CLI never sent x-amz-content-sha256 %s (saw %v)", want, payloadForms)
			}
			mu.Unlock()
			run("s3", "rm", "s3://cli-bkt/", "--recursive")
			run("s3", "rb", "s3://cli-bkt")
			e.assertBlobs(0)
		})
	}
}
