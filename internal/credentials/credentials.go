// Package credentials is the server's store of access keys: the root key
// and any keys bound to IAM identities (on-premises instances), kept in
// the data directory in the AWS shared-credentials file format so that the
// same file can be handed to the CLI or the agent.
package credentials

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/internal/awsproto/sigv4"
)

const (
	// FileName is the credentials file inside the data directory.
	FileName = "credentials"
	// RootSection names the root key's section in the file.
	RootSection = "root"

	EnvAccessKeyID     = "CUTOVER_ACCESS_KEY_ID"
	EnvSecretAccessKey = "CUTOVER_SECRET_ACCESS_KEY"

	// checkInterval bounds how often a lookup looks at the file's mtime.
	checkInterval = time.Second
)

// Store holds the keys. Lookup is safe for concurrent use and does not
// take a lock: the keys are an immutable map swapped atomically on reload.
type Store struct {
	path      string
	log       *slog.Logger
	generated bool
	envRoot   *sigv4.Credential
	now       func() time.Time

	keys      atomic.Pointer[keySet]
	nextCheck atomic.Int64 // unix nanoseconds of the next allowed stat
	reloadMu  sync.Mutex
	// missingLogged is set once the loss of the file was logged; guarded by
	// reloadMu.
	missingLogged bool
}

// keySet is one loaded state of the file; never modified once published.
type keySet struct {
	byID  map[string]sigv4.Credential
	root  sigv4.Credential
	mtime time.Time
	size  int64
}

var _ sigv4.KeyStore = (*Store)(nil)

// Load reads <dataDir>/credentials, creating it with a generated root key
// when neither the environment nor the file provides one.
func Load(dataDir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{path: filepath.Join(dataDir, FileName), log: log, now: time.Now}

	id, secret := os.Getenv(EnvAccessKeyID), os.Getenv(EnvSecretAccessKey)
	switch {
	case id != "" && secret != "":
		s.envRoot = &sigv4.Credential{AccessKeyID: id, SecretAccessKey: secret, Root: true}
	case id != "" || secret != "":
		log.Warn("ignoring root key from the environment: both variables must be set",
			"id_var", EnvAccessKeyID, "secret_var", EnvSecretAccessKey)
	}

	ks, err := s.read()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ks = &keySet{byID: map[string]sigv4.Credential{}}
	case err != nil:
		return nil, err
	}
	if s.envRoot == nil && ks.root.AccessKeyID == "" {
		if err := s.generateRoot(dataDir); err != nil {
			return nil, err
		}
		if ks, err = s.read(); err != nil {
			return nil, fmt.Errorf("credentials: reading back the generated key: %w", err)
		}
	}
	if err := s.addRoot(ks); err != nil {
		return nil, err
	}
	s.keys.Store(ks)
	s.nextCheck.Store(s.now().Add(checkInterval).UnixNano())
	return s, nil
}

// Path is the credentials file.
func (s *Store) Path() string { return s.path }

// Generated reports whether Load created the root key (so the server should
// show it to the user).
func (s *Store) Generated() bool { return s.generated }

// Root returns the root key.
func (s *Store) Root() sigv4.Credential { return s.keys.Load().root }

// Lookup implements sigv4.KeyStore. At most once a second it also checks
// whether the file changed and reloads it.
func (s *Store) Lookup(accessKeyID string) (sigv4.Credential, bool) {
	if next := s.nextCheck.Load(); s.now().UnixNano() >= next {
		if s.nextCheck.CompareAndSwap(next, s.now().Add(checkInterval).UnixNano()) {
			s.reloadIfChanged()
		}
	}
	c, ok := s.keys.Load().byID[accessKeyID]
	return c, ok
}

// Reload rereads the file now. A file that fails to parse leaves the
// current keys in place.
func (s *Store) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked()
}

func (s *Store) reloadIfChanged() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	fi, err := os.Stat(s.path)
	cur := s.keys.Load()
	if err != nil {
		// A vanished file keeps the keys already loaded: deleting it by
		// mistake must not lock every client out. Said once per loss, and
		// not at all when there never was a file (a root key from the
		// environment needs none).
		if errors.Is(err, fs.ErrNotExist) && cur.mtime.IsZero() {
			return
		}
		if !s.missingLogged {
			s.log.Warn("credentials file unreadable; keeping loaded keys", "path", s.path, "err", err)
			s.missingLogged = true
		}
		return
	}
	s.missingLogged = false
	if fi.ModTime().Equal(cur.mtime) && fi.Size() == cur.size {
		return
	}
	if err := s.reloadLocked(); err != nil {
		s.log.Error("reloading credentials; keeping loaded keys", "err", err)
	}
}

func (s *Store) reloadLocked() error {
	ks, err := s.read()
	if err != nil {
		return err
	}
	if s.envRoot == nil && ks.root.AccessKeyID == "" {
		s.log.Warn("credentials file has no [root] section; keeping the previous root key", "path", s.path)
		ks.root = s.keys.Load().root
	}
	if err := s.addRoot(ks); err != nil {
		return err
	}
	s.keys.Store(ks)
	s.log.Info("credentials reloaded", "path", s.path, "keys", len(ks.byID))
	return nil
}

// addRoot makes the root key (from the environment when set) findable.
func (s *Store) addRoot(ks *keySet) error {
	if s.envRoot != nil {
		ks.root = *s.envRoot
	}
	if other, dup := ks.byID[ks.root.AccessKeyID]; dup && !other.Root {
		return fmt.Errorf("credentials: %s: the root access key %s is also bound to %q", s.path, ks.root.AccessKeyID, other.ARN)
	}
	ks.byID[ks.root.AccessKeyID] = ks.root
	return nil
}

func (s *Store) read() (*keySet, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		s.log.Warn("credentials file is readable by every user; chmod 600 it", "path", s.path, "mode", fi.Mode().Perm().String())
	}
	ks, err := parse(f, s.path)
	if err != nil {
		return nil, err
	}
	ks.mtime, ks.size = fi.ModTime(), fi.Size()
	return ks, nil
}

// generateRoot writes a new [root] section, creating the directory and the
// file as only the owner may read them; an existing file (other keys, no
// root) is appended to, never rewritten.
func (s *Store) generateRoot(dataDir string) error {
	id, secret, err := NewKeyPair()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("credentials: creating data directory: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("credentials: writing generated key: %w", err)
	}
	var b bytes.Buffer
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "# Root key generated by cutover on %s.\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		time.Now().UTC().Format(time.RFC3339), RootSection, id, secret)
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("credentials: writing generated key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("credentials: writing generated key: %w", err)
	}
	s.generated = true
	s.log.Info("generated a root access key", "path", s.path, "access_key_id", id)
	return nil
}

// NewKeyPair returns a random key pair shaped like AWS's: "AKIA" and 16
// base32 characters, and a 40-character base64 secret.
func NewKeyPair() (accessKeyID, secretAccessKey string, err error) {
	var idb [10]byte
	var sb [30]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", fmt.Errorf("credentials: generating key: %w", err)
	}
	if _, err := rand.Read(sb[:]); err != nil {
		return "", "", fmt.Errorf("credentials: generating key: %w", err)
	}
	return "AKIA" + base32.StdEncoding.EncodeToString(idb[:]), base64.StdEncoding.EncodeToString(sb[:]), nil
}

type section struct {
	name, id, secret, userARN, sessionARN string
	line                                  int
}

// parse reads the shared-credentials INI format: [name] headers, key =
// value lines, '#' and ';' comment lines. Keys it does not know (region,
// aws_session_token, ...) are ignored, as the AWS tools do.
func parse(f *os.File, path string) (*keySet, error) {
	ks := &keySet{byID: map[string]sigv4.Credential{}}
	var sections []*section
	seen := map[string]int{}
	var cur *section
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			name, ok := strings.CutSuffix(line[1:], "]")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				return nil, fmt.Errorf("credentials: %s:%d: malformed section header %q", path, n, line)
			}
			if prev, dup := seen[name]; dup {
				return nil, fmt.Errorf("credentials: %s:%d: section [%s] already defined on line %d", path, n, name, prev)
			}
			seen[name] = n
			cur = &section{name: name, line: n}
			sections = append(sections, cur)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("credentials: %s:%d: expected \"key = value\", got %q", path, n, line)
		}
		if cur == nil {
			return nil, fmt.Errorf("credentials: %s:%d: %q is outside any [section]", path, n, strings.TrimSpace(k))
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			cur.id = v
		case "aws_secret_access_key":
			cur.secret = v
		case "iam_user_arn":
			cur.userARN = v
		case "iam_session_arn":
			cur.sessionARN = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("credentials: reading %s: %w", path, err)
	}

	where := map[string]*section{}
	for _, sec := range sections {
		if sec.id == "" || sec.secret == "" {
			return nil, fmt.Errorf("credentials: %s:%d: section [%s] needs both aws_access_key_id and aws_secret_access_key", path, sec.line, sec.name)
		}
		if sec.userARN != "" && sec.sessionARN != "" {
			return nil, fmt.Errorf("credentials: %s:%d: section [%s] sets both iam_user_arn and iam_session_arn", path, sec.line, sec.name)
		}
		if other, dup := where[sec.id]; dup {
			return nil, fmt.Errorf("credentials: %s:%d: access key %s of [%s] is already used by [%s] on line %d", path, sec.line, sec.id, sec.name, other.name, other.line)
		}
		where[sec.id] = sec
		c := sigv4.Credential{AccessKeyID: sec.id, SecretAccessKey: sec.secret, ARN: sec.userARN + sec.sessionARN}
		if sec.name == RootSection {
			if c.ARN != "" {
				return nil, fmt.Errorf("credentials: %s:%d: the [%s] key cannot be bound to an IAM identity", path, sec.line, RootSection)
			}
			c.Root = true
			ks.root = c
			continue
		}
		ks.byID[c.AccessKeyID] = c
	}
	return ks, nil
}
