package credentials

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func write(t *testing.T, dir, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, FileName)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(t *testing.T) {
	t.Setenv(EnvAccessKeyID, "")
	t.Setenv(EnvSecretAccessKey, "")
}

const sample = `# keys for cutover
[root]
aws_access_key_id = AKIAROOTROOTROOTROOT
aws_secret_access_key = rootsecret

[onprem1]
aws_access_key_id=AKIAONPREM1
aws_secret_access_key=s1
iam_user_arn = arn:aws:iam::123456789012:user/AWS/CodeDeploy/onprem1
region = us-east-1

; session-bound agent
[onprem2]
aws_access_key_id = AKIAONPREM2
aws_secret_access_key = s2
aws_session_token = ignored
iam_session_arn = arn:aws:sts::123456789012:assumed-role/CodeDeploy/onprem2

[plain]
aws_access_key_id = AKIAPLAIN
aws_secret_access_key = s3
`

func TestLoadFile(t *testing.T) {
	noEnv(t)
	dir := t.TempDir()
	write(t, dir, sample, 0o600)
	s, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Generated() {
		t.Fatal("Generated with a root key in the file")
	}
	if r := s.Root(); r.AccessKeyID != "AKIAROOTROOTROOTROOT" || r.SecretAccessKey != "rootsecret" || !r.Root {
		t.Fatalf("root = %+v", r)
	}
	tests := []struct {
		id, secret, arn string
		root, found     bool
	}{
		{"AKIAROOTROOTROOTROOT", "rootsecret", "", true, true},
		{"AKIAONPREM1", "s1", "arn:aws:iam::123456789012:user/AWS/CodeDeploy/onprem1", false, true},
		{"AKIAONPREM2", "s2", "arn:aws:sts::123456789012:assumed-role/CodeDeploy/onprem2", false, true},
		{"AKIAPLAIN", "s3", "", false, true},
		{"AKIAUNKNOWN", "", "", false, false},
	}
	for _, tt := range tests {
		c, ok := s.Lookup(tt.id)
		if ok != tt.found || c.SecretAccessKey != tt.secret || c.ARN != tt.arn || c.Root != tt.root {
			t.Errorf("Lookup(%s) = %+v, %v", tt.id, c, ok)
		}
	}
	if s.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path = %s", s.Path())
	}
}

func TestRootFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvAccessKeyID, "AKIAENVENVENVENVENVE")
	t.Setenv(EnvSecretAccessKey, "envsecret")
	write(t, dir, sample, 0o600)
	s, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Root(); r.AccessKeyID != "AKIAENVENVENVENVENVE" || !r.Root || s.Generated() {
		t.Fatalf("root = %+v generated=%v", r, s.Generated())
	}
	if _, ok := s.Lookup("AKIAONPREM1"); !ok {
		t.Fatal("file keys not loaded beside the environment's root")
	}
	if _, ok := s.Lookup("AKIAROOTROOTROOTROOT"); ok {
		t.Fatal("the file's [root] is still accepted although the environment overrides it")
	}

	// With the environment set and no file, nothing is written.
	empty := t.TempDir()
	if _, err := Load(empty, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(empty, FileName)); !os.IsNotExist(err) {
		t.Fatalf("credentials file written although the root came from the environment: %v", err)
	}
}

var (
	keyIDPattern  = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func TestGenerate(t *testing.T) {
	noEnv(t)
	t.Setenv(EnvAccessKeyID, "AKIAONLYONE") // half a pair is ignored
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Root()
	if !s.Generated() || !keyIDPattern.MatchString(r.AccessKeyID) || !secretPattern.MatchString(r.SecretAccessKey) {
		t.Fatalf("generated root %+v (generated=%v)", r, s.Generated())
	}
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v", fi.Mode(), err)
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, %v", di.Mode(), err)
	}
	if c, ok := s.Lookup(r.AccessKeyID); !ok || c != r {
		t.Fatal("generated key not found")
	}

	again, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Generated() || again.Root() != r {
		t.Fatalf("second Load: generated=%v root=%+v", again.Generated(), again.Root())
	}
}

func TestGenerateKeepsOtherSections(t *testing.T) {
	noEnv(t)
	dir := t.TempDir()
	write(t, dir, "[agent]\naws_access_key_id = AKIAAGENT\naws_secret_access_key = x", 0o600)
	s, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Generated() {
		t.Fatal("no root generated")
	}
	if _, ok := s.Lookup("AKIAAGENT"); !ok {
		t.Fatal("existing section lost")
	}
	b, _ := os.ReadFile(s.Path())
	if !strings.HasPrefix(string(b), "[agent]\naws_access_key_id = AKIAAGENT\naws_secret_access_key = x\n") {
		t.Fatalf("existing content rewritten:\n%s", b)
	}
}

func TestNewKeyPairIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		id, secret, err := NewKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if !keyIDPattern.MatchString(id) || !secretPattern.MatchString(secret) || seen[id] {
			t.Fatalf("bad or repeated pair %s %s", id, secret)
		}
		seen[id] = true
	}
}

func TestMalformed(t *testing.T) {
	noEnv(t)
	tests := []struct {
		name, content, want string
	}{
		{"key outside section", "aws_access_key_id = x\n", ":1: \"aws_access_key_id\" is outside any [section]"},
		{"no equals", "[a]\naws_access_key_id x\n", ":2: expected \"key = value\""},
		{"bad header", "[root]\naws_access_key_id = a\naws_secret_access_key = b\n[broken\n", ":4: malformed section header"},
		{"empty header", "[ ]\n", ":1: malformed section header"},
		{"duplicate section", "[a]\naws_access_key_id = a\naws_secret_access_key = b\n\n[a]\n", ":5: section [a] already defined on line 1"},
		{"missing secret", "# c\n[a]\naws_access_key_id = a\n", ":2: section [a] needs both aws_access_key_id and aws_secret_access_key"},
		{"both arns", "[a]\naws_access_key_id = a\naws_secret_access_key = b\niam_user_arn = u\niam_session_arn = s\n", ":1: section [a] sets both iam_user_arn and iam_session_arn"},
		{"duplicate key id", "[a]\naws_access_key_id = k\naws_secret_access_key = b\n[b]\naws_access_key_id = k\naws_secret_access_key = c\n", ":4: access key k of [b] is already used by [a] on line 1"},
		{"root with identity", "[root]\naws_access_key_id = k\naws_secret_access_key = b\niam_user_arn = u\n", ":1: the [root] key cannot be bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := write(t, dir, tt.content, 0o600)
			_, err := Load(dir, nil)
			if err == nil || !strings.Contains(err.Error(), p+tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, p+tt.want)
			}
		})
	}
}

func TestWorldReadableWarns(t *testing.T) {
	noEnv(t)
	dir := t.TempDir()
	write(t, dir, sample, 0o644)
	var logs bytes.Buffer
	if _, err := Load(dir, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "readable by every user") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestReloadOnChange(t *testing.T) {
	noEnv(t)
	dir := t.TempDir()
	p := write(t, dir, sample, 0o600)
	var logs bytes.Buffer
	s, err := Load(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	s.now = clock.now
	s.nextCheck.Store(clock.now().Add(checkInterval).UnixNano())

	touch := func(content string, age time.Duration) {
		t.Helper()
		write(t, dir, content, 0o600)
		mt := time.Now().Add(age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	added := sample + "\n[new]\naws_access_key_id = AKIANEW\naws_secret_access_key = n\n"
	touch(added, time.Hour)

	if _, ok := s.Lookup("AKIANEW"); ok {
		t.Fatal("reloaded before the check interval")
	}
	clock.add(1500 * time.Millisecond)
	if _, ok := s.Lookup("AKIANEW"); !ok {
		t.Fatal("new key not picked up after the interval")
	}

	// A broken edit keeps the previous keys and is logged.
	touch("[broken\n", 2*time.Hour)
	clock.add(2 * time.Second)
	if _, ok := s.Lookup("AKIANEW"); !ok {
		t.Fatal("keys dropped by a malformed reload")
	}
	if !strings.Contains(logs.String(), "malformed section header") {
		t.Fatalf("malformed reload not logged: %s", logs.String())
	}

	// Removing a key takes effect; a rotated root secret too.
	rotated := strings.Replace(sample, "rootsecret", "rotated", 1)
	touch(rotated, 3*time.Hour)
	clock.add(2 * time.Second)
	if _, ok := s.Lookup("AKIANEW"); ok {
		t.Fatal("removed key still accepted")
	}
	if c, _ := s.Lookup("AKIAROOTROOTROOTROOT"); c.SecretAccessKey != "rotated" || s.Root().SecretAccessKey != "rotated" {
		t.Fatalf("root not rotated: %+v", c)
	}

	// A deleted file keeps what was loaded.
	os.Remove(p)
	clock.add(2 * time.Second)
	if _, ok := s.Lookup("AKIAONPREM1"); !ok {
		t.Fatal("keys dropped when the file vanished")
	}

	// A file without [root] keeps the previous root.
	touch("[x]\naws_access_key_id = AKIAX\naws_secret_access_key = x\n", 4*time.Hour)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lookup("AKIAROOTROOTROOTROOT"); !ok {
		t.Fatal("root lost on reload of a file without [root]")
	}
}

func TestConcurrentLookup(t *testing.T) {
	noEnv(t)
	dir := t.TempDir()
	write(t, dir, sample, 0o600)
	s, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	s.now = clock.now
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				if _, ok := s.Lookup("AKIAONPREM1"); !ok {
					t.Error("lookup failed")
					return
				}
				clock.add(time.Millisecond)
			}
		})
	}
	wg.Wait()
}

func BenchmarkLookup(b *testing.B) {
	b.Setenv(EnvAccessKeyID, "")
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte(sample), 0o600)
	s, err := Load(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Lookup("AKIAONPREM1")
		}
	})
}

// TestMissingFileLogging: a root key from the environment needs no file, so
// its absence is not worth a line per check; a file that existed and then
// vanished is said once, not once a second.
func TestMissingFileLogging(t *testing.T) {
	t.Setenv(EnvAccessKeyID, "AKIAENVROOT")
	t.Setenv(EnvSecretAccessKey, "envsecret")
	dir := t.TempDir()
	var logs bytes.Buffer
	s, err := Load(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	s.now = clock.now
	lookups := func() {
		for range 5 {
			clock.add(2 * time.Second)
			if _, ok := s.Lookup("AKIAENVROOT"); !ok {
				t.Fatal("environment root key not accepted")
			}
		}
	}
	lookups()
	if strings.Contains(logs.String(), "unreadable") {
		t.Fatalf("absent file logged although the root key comes from the environment:\n%s", logs.String())
	}

	p := write(t, dir, sample, 0o600)
	clock.add(2 * time.Second)
	if _, ok := s.Lookup("AKIAENVROOT"); !ok {
		t.Fatal("environment root key lost when a file appeared")
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	lookups()
	if n := strings.Count(logs.String(), "unreadable"); n != 1 {
		t.Fatalf("a vanished file was logged %d times, want once:\n%s", n, logs.String())
	}
}
