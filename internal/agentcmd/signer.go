package agentcmd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/smallstep/pkcs7"
)

// SignerFile is the file in the data directory that holds the key and
// self-signed certificate signing deployment specifications. AWS's agent
// verifies the signature with NOVERIFY and ignores the result, so any
// certificate works; keeping one makes every spec verifiable against it.
const SignerFile = "agentcmd-signer.pem"

// signer signs deployment specifications as PKCS#7 SignedData.
type signer struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadSigner reads the signing key of dir, creating it on first use.
func loadSigner(dir string, now time.Time) (*signer, error) {
	path := filepath.Join(dir, SignerFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createSigner(dir, path, now); err != nil {
			return nil, err
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("agentcmd: reading signing key: %w", err)
	}
	sg, err := parseSigner(b)
	if err != nil {
		return nil, fmt.Errorf("agentcmd: signing key %s: %w", path, err)
	}
	return sg, nil
}

func parseSigner(b []byte) (*signer, error) {
	sg := &signer{}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing private key: %w", err)
			}
			cs, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("private key of type %T cannot sign", k)
			}
			sg.key = cs
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing certificate: %w", err)
			}
			sg.cert = c
		}
	}
	if sg.key == nil || sg.cert == nil {
		return nil, errors.New("the file needs a PRIVATE KEY and a CERTIFICATE block")
	}
	return sg, nil
}

// createSigner writes a new key and certificate to path, unless another
// process got there first: the file is linked into place, which fails if
// it exists, so two servers starting at once agree on one key.
func createSigner(dir, path string, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agentcmd: creating data directory: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("agentcmd: generating signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("agentcmd: generating serial number: %w", err)
	}
	// The PKCS#7 library stamps signatures with the wall clock, and a host
	// that checks the chain does so at that time, so the certificate must
	// be valid from the earlier of the service's clock and the wall clock.
	from := now
	if wall := time.Now(); wall.Before(from) {
		from = wall
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "cutover deployment specification signer"},
		NotBefore:    from.Add(-time.Hour),
		NotAfter:     now.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("agentcmd: creating certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("agentcmd: encoding signing key: %w", err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)

	tmp, err := os.CreateTemp(dir, SignerFile+".*")
	if err != nil {
		return fmt.Errorf("agentcmd: writing signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("agentcmd: writing signing key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("agentcmd: writing signing key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("agentcmd: writing signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("agentcmd: writing signing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("agentcmd: writing signing key: %w", err)
	}
	return nil
}

// sign returns data as a PEM PKCS#7 SignedData with the content attached
// and the signer's certificate embedded, which is what AWS's agent parses.
func (sg *signer) sign(data []byte) (string, error) {
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		return "", fmt.Errorf("agentcmd: signing specification: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(sg.cert, sg.key, pkcs7.SignerInfoConfig{}); err != nil {
		return "", fmt.Errorf("agentcmd: signing specification: %w", err)
	}
	der, err := sd.Finish()
	if err != nil {
		return "", fmt.Errorf("agentcmd: signing specification: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: der})), nil
}

// Certificate is the certificate specifications are signed with, for a
// host that wants to check them.
func (s *Service) Certificate() *x509.Certificate { return s.sign.cert }
