package sns

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// signer holds the key that signs every delivered message and the
// self-signed certificate subscribers fetch from SigningCertURL to check
// it. Both are made once and kept in the store, so they survive restarts
// and every replica signs with the same key.
type signer struct {
	key     *rsa.PrivateKey
	certPEM []byte
	// certName is the certificate's file name under PublicPrefix.
	certName string
}

type signingRecord struct {
	KeyPEM  string `json:"keyPem"`
	CertPEM string `json:"certPem"`
}

const signingKey = "key"

func loadSigner(ctx context.Context, db store.Store) (*signer, error) {
	var rec *signingRecord
	err := db.View(ctx, func(tx store.Tx) error {
		r, _, err := store.GetJSON[signingRecord](tx, kindSigning, signingKey)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		rec = r
		return err
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		fresh, err := newSigningRecord()
		if err != nil {
			return nil, err
		}
		// Another replica may have made one meanwhile: the first kept wins.
		err = db.Update(ctx, func(tx store.Tx) error {
			r, _, err := store.GetJSON[signingRecord](tx, kindSigning, signingKey)
			if err == nil {
				rec = r
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			rec = fresh
			return store.PutJSON(tx, &store.Record{Kind: kindSigning, Key: signingKey}, fresh)
		})
		if err != nil {
			return nil, err
		}
	}
	return parseSigningRecord(rec)
}

func newSigningRecord() (*signingRecord, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sns.cutover.local", Organization: []string{"cutover"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate: %w", err)
	}
	return &signingRecord{
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}, nil
}

func parseSigningRecord(rec *signingRecord) (*signer, error) {
	kb, _ := pem.Decode([]byte(rec.KeyPEM))
	if kb == nil {
		return nil, errors.New("stored signing key is not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("stored signing key: %w", err)
	}
	cb, _ := pem.Decode([]byte(rec.CertPEM))
	if cb == nil {
		return nil, errors.New("stored signing certificate is not PEM")
	}
	sum := sha256.Sum256(cb.Bytes)
	return &signer{key: key, certPEM: []byte(rec.CertPEM),
		certName: "SimpleNotificationService-" + hex.EncodeToString(sum[:16]) + ".pem"}, nil
}

// stringToSign is the canonical text SNS signs: the message's fields as
// "Name\nvalue\n" in byte order of the names, Subject only when present.
func stringToSign(f *wireMessage) string {
	var b strings.Builder
	add := func(k, v string) {
		b.WriteString(k)
		b.WriteByte('\n')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	add("Message", f.Message)
	add("MessageId", f.MessageID)
	if f.Type == typeNotification {
		if f.Subject != "" {
			add("Subject", f.Subject)
		}
		add("Timestamp", f.Timestamp)
		add("TopicArn", f.TopicArn)
		add("Type", f.Type)
		return b.String()
	}
	add("SubscribeURL", f.SubscribeURL)
	add("Timestamp", f.Timestamp)
	add("Token", f.Token)
	add("TopicArn", f.TopicArn)
	add("Type", f.Type)
	return b.String()
}

// sign fills SignatureVersion and Signature: version 1 is SHA1withRSA,
// version 2 SHA256withRSA.
func (sg *signer) sign(f *wireMessage, version string) error {
	text := []byte(stringToSign(f))
	var (
		sig []byte
		err error
	)
	if version == "2" {
		sum := sha256.Sum256(text)
		sig, err = rsa.SignPKCS1v15(nil, sg.key, crypto.SHA256, sum[:])
	} else {
		version = "1"
		sum := sha1.Sum(text)
		sig, err = rsa.SignPKCS1v15(nil, sg.key, crypto.SHA1, sum[:])
	}
	if err != nil {
		return fmt.Errorf("signing message %s: %w", f.MessageID, err)
	}
	f.SignatureVersion = version
	f.Signature = base64.StdEncoding.EncodeToString(sig)
	return nil
}
