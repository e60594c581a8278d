package tlsboot

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsureFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	res, err := Ensure(dir, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if !res.CAGenerated || !res.CertGenerated {
		t.Fatalf("first start generated CA=%v cert=%v, want both", res.CAGenerated, res.CertGenerated)
	}
	for _, f := range []string{CAKeyFile, KeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	for _, h := range DefaultHosts {
		handshake(t, res, h)
	}
}

// handshake serves one TLS connection with the generated certificate and
// verifies it as a client trusting only the CA file would.
func handshake(t *testing.T, res Result, host string) {
	t.Helper()
	cert, err := res.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(res.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file not parseable")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
		t.Errorf("certificate does not verify for %q: %v", host, err)
	}
	// A real handshake over a pipe catches key/cert mismatches that Verify
	// alone would not.
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go tls.Server(c1, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
	cl := tls.Client(c2, &tls.Config{RootCAs: pool, ServerName: host})
	if err := cl.Handshake(); err != nil {
		t.Errorf("handshake as %q: %v", host, err)
	}
}

func TestEnsureLaterStarts(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		hosts     []string
		at        time.Time
		mangle    func(dir string)
		wantCA    bool // CA regenerated
		wantCert  bool // server cert regenerated
		checkHost string
	}{
		{name: "reused", at: now},
		{name: "reused with an explicit default host", hosts: []string{"127.0.0.1:7743", "LOCALHOST"}, at: now},
		{name: "new host", hosts: []string{"10.1.2.3"}, at: now, wantCert: true, checkHost: "10.1.2.3"},
		{name: "new name", hosts: []string{"cutover.internal"}, at: now, wantCert: true, checkHost: "cutover.internal"},
		{name: "server cert expiring", at: now.Add(certValidity - 24*time.Hour), wantCert: true},
		{name: "CA expired", at: now.Add(caValidity + time.Hour), wantCA: true, wantCert: true},
		{name: "cert corrupted", at: now, mangle: func(dir string) {
			os.WriteFile(filepath.Join(dir, CertFile), []byte("garbage"), 0o644)
		}, wantCert: true},
		{name: "cert key lost", at: now, mangle: func(dir string) {
			os.Remove(filepath.Join(dir, KeyFile))
		}, wantCert: true},
		{name: "CA key lost", at: now, mangle: func(dir string) {
			os.Remove(filepath.Join(dir, CAKeyFile))
		}, wantCA: true, wantCert: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := Ensure(dir, nil, now)
			if err != nil {
				t.Fatal(err)
			}
			caBefore, _ := os.ReadFile(first.CAFile)
			certBefore, _ := os.ReadFile(first.CertFile)
			if tt.mangle != nil {
				tt.mangle(dir)
			}
			res, err := Ensure(dir, HostsFor(tt.hosts...), tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if res.CAGenerated != tt.wantCA || res.CertGenerated != tt.wantCert {
				t.Errorf("generated CA=%v cert=%v, want CA=%v cert=%v", res.CAGenerated, res.CertGenerated, tt.wantCA, tt.wantCert)
			}
			caAfter, _ := os.ReadFile(res.CAFile)
			certAfter, _ := os.ReadFile(res.CertFile)
			if got := !bytes.Equal(caBefore, caAfter); got != tt.wantCA {
				t.Errorf("CA file changed=%v, want %v", got, tt.wantCA)
			}
			if got := !bytes.Equal(certBefore, certAfter); got != tt.wantCert {
				t.Errorf("cert file changed=%v, want %v", got, tt.wantCert)
			}
			if tt.checkHost != "" {
				handshake(t, res, tt.checkHost)
			}
			// Whatever happened, a further start at the same time is a no-op.
			again, err := Ensure(dir, HostsFor(tt.hosts...), tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if again.CAGenerated || again.CertGenerated {
				t.Errorf("third start regenerated CA=%v cert=%v", again.CAGenerated, again.CertGenerated)
			}
		})
	}
}

func TestHostsFor(t *testing.T) {
	name, _ := os.Hostname()
	tests := []struct {
		addr string
		want string
	}{
		{"127.0.0.1:7743", "127.0.0.1"},
		{"[::1]:7743", "::1"},
		{"example.test:443", "example.test"},
		{"0.0.0.0:7743", name},
		{":7743", name},
	}
	for _, tt := range tests {
		got := HostsFor(tt.addr)
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("HostsFor(%q) = %v, want [%s]", tt.addr, got, tt.want)
		}
	}
}
