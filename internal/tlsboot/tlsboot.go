// Package tlsboot gives cutover a TLS certificate without any set-up: on
// first start it creates a private certificate authority and a server
// certificate signed by it in <data-dir>/tls/, and on later starts it reuses
// them. Clients trust the CA file (aws --ca-bundle, the agent's ca_path), so
// the CA is kept for as long as it is valid and only the server certificate
// is replaced when it expires or no longer names the addresses served.
package tlsboot

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names inside the TLS directory.
const (
	CAFile     = "ca.pem"
	CAKeyFile  = "ca-key.pem"
	CertFile   = "server.pem"
	KeyFile    = "server-key.pem"
	caValidity = 10 * 365 * 24 * time.Hour
	// Server certificates are kept short enough that browsers accept them
	// (825 days is the longest public CAs may issue) and renewed at start-up.
	certValidity = 825 * 24 * time.Hour
	// renewBefore replaces a certificate that would expire soon, so a server
	// started now does not start failing handshakes in the middle of a run.
	renewBefore = 7 * 24 * time.Hour
)

// DefaultHosts are always covered: every loopback name a local client may
// use.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// Result says where the certificate material is and what was done.
type Result struct {
	Dir      string
	CAFile   string
	CertFile string
	KeyFile  string
	// CAGenerated and CertGenerated report what this call created.
	CAGenerated   bool
	CertGenerated bool
}

// Certificate loads the server key pair.
func (r Result) Certificate() (tls.Certificate, error) {
	return tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
}

// Ensure makes sure dir holds a valid CA and a server certificate signed by
// it that covers DefaultHosts plus hosts (IP addresses or DNS names), valid
// at now. Existing material is reused when it is still good.
func Ensure(dir string, hosts []string, now time.Time) (Result, error) {
	res := Result{
		Dir:      dir,
		CAFile:   filepath.Join(dir, CAFile),
		CertFile: filepath.Join(dir, CertFile),
		KeyFile:  filepath.Join(dir, KeyFile),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("tlsboot: creating %s: %w", dir, err)
	}
	want := coverage(hosts)

	caCert, caKey, err := loadCA(res.CAFile, filepath.Join(dir, CAKeyFile), now)
	if err != nil {
		caCert, caKey, err = newCA(now)
		if err != nil {
			return res, err
		}
		if err := writePEM(res.CAFile, "CERTIFICATE", caCert.Raw, 0o644); err != nil {
			return res, err
		}
		if err := writeKey(filepath.Join(dir, CAKeyFile), caKey); err != nil {
			return res, err
		}
		res.CAGenerated = true
	}

	if !res.CAGenerated && serverCertUsable(res.CertFile, res.KeyFile, caCert, want, now) {
		return res, nil
	}
	der, key, err := newServerCert(caCert, caKey, want, now)
	if err != nil {
		return res, err
	}
	// Key first: a crash between the two writes leaves a certificate that
	// does not match its key, which the next start detects and replaces.
	if err := writeKey(res.KeyFile, key); err != nil {
		return res, err
	}
	if err := writePEM(res.CertFile, "CERTIFICATE", der, 0o644); err != nil {
		return res, err
	}
	res.CertGenerated = true
	return res, nil
}

// HostsFor returns the host part of listen addresses that a client could
// dial by that name: specific IPs and names, not wildcards. For a wildcard
// bind it adds the machine's host name, the best guess at what a remote
// agent will use.
func HostsFor(addrs ...string) []string {
	var hosts []string
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		if err != nil {
			h = a
		}
		ip := net.ParseIP(h)
		if h == "" || (ip != nil && ip.IsUnspecified()) {
			if name, err := os.Hostname(); err == nil && name != "" {
				hosts = append(hosts, name)
			}
			continue
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// coverage is the deduplicated, normalised set of names a certificate must
// carry.
func coverage(hosts []string) []string {
	var out []string
	for _, h := range append(slices.Clone(DefaultHosts), hosts...) {
		h = strings.ToLower(strings.Trim(h, "[]"))
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

func loadCA(certPath, keyPath string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	cert, err := readCert(certPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, nil, err
	}
	if !cert.IsCA || now.Before(cert.NotBefore) || now.Add(renewBefore).After(cert.NotAfter) {
		return nil, nil, errors.New("tlsboot: CA expired or not a CA")
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, nil, errors.New("tlsboot: CA key does not match certificate")
	}
	return cert, key, nil
}

func serverCertUsable(certPath, keyPath string, ca *x509.Certificate, hosts []string, now time.Time) bool {
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		return false
	}
	cert, err := readCert(certPath)
	if err != nil {
		return false
	}
	if now.Before(cert.NotBefore) || now.Add(renewBefore).After(cert.NotAfter) {
		return false
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return false
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func newCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsboot: generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"cutover"}, CommonName: "cutover local CA"},
		// Backdated an hour so clients with a slightly slow clock accept it.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsboot: signing CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsboot: parsing CA: %w", err)
	}
	return cert, key, nil
}

func newServerCert(ca *x509.Certificate, caKey crypto.Signer, hosts []string, now time.Time) ([]byte, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsboot: generating server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"cutover"}, CommonName: "cutover server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsboot: signing server certificate: %w", err)
	}
	return der, key, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms; a fixed serial
		// would still produce a usable (if less unique) certificate.
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("tlsboot: %s holds no certificate", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("tlsboot: %s holds no key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tlsboot: parsing %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("tlsboot: %s: unsupported key type", path)
	}
	return s, nil
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsboot: encoding key: %w", err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// writePEM replaces path atomically so that a reader (or a crash) never sees
// half a file.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("tlsboot: writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsboot: writing %s: %w", path, err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsboot: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsboot: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlsboot: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tlsboot: writing %s: %w", path, err)
	}
	return nil
}
