package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cutover/cutover/internal/agent/spec"
)

// Credentials gives the key S3 requests are signed with.
type Credentials interface {
	Retrieve(ctx context.Context) (aws.Credentials, error)
}

// S3 downloads objects path-style from an S3-compatible endpoint, signed
// with SigV4 for service s3 as AWS's agent signs them.
type S3 struct {
	Endpoint    string // e.g. https://cutover.internal:8443; "" means AWS's regional endpoint
	Region      string
	Credentials Credentials
	HTTP        *http.Client
	Now         func() time.Time
}

var emptySHA256 = func() string { s := sha256.Sum256(nil); return hex.EncodeToString(s[:]) }()

// Download writes the revision's object to dst and checks its ETag against
// the one the specification gives (quotes ignored, as AWS's agent does).
func (s *S3) Download(ctx context.Context, rev *spec.S3Revision, dst string) error {
	base := strings.TrimRight(s.Endpoint, "/")
	if base == "" {
		base = "https://s3." + s.Region + ".amazonaws.com"
	}
	u := base + "/" + escapeSegment(rev.Bucket) + "/" + escapeKey(rev.Key)
	if rev.Version != "" {
		u += "?versionId=" + url.QueryEscape(rev.Version)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("download s3://%s/%s: %w", rev.Bucket, rev.Key, err)
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("download s3://%s/%s: credentials: %w", rev.Bucket, rev.Key, err)
	}
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(ctx, creds, req, emptySHA256, "s3", s.Region, now().UTC()); err != nil {
		return fmt.Errorf("download s3://%s/%s: sign: %w", rev.Bucket, rev.Key, err)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("download s3://%s/%s: %w", rev.Bucket, rev.Key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return fmt.Errorf("download s3://%s/%s: HTTP %d: %s", rev.Bucket, rev.Key, resp.StatusCode, s3ErrorCode(body))
	}
	if want := strings.Trim(rev.ETag, `"`); want != "" {
		if got := strings.Trim(resp.Header.Get("ETag"), `"`); got != want {
			return fmt.Errorf("download s3://%s/%s: the object's ETag %q is not the revision's %q; the bundle changed since it was registered", rev.Bucket, rev.Key, got, want)
		}
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("download s3://%s/%s: %w", rev.Bucket, rev.Key, err)
	}
	return f.Close()
}

// s3ErrorCode pulls <Code> and <Message> out of an S3 XML error for the
// diagnostic.
func s3ErrorCode(body []byte) string {
	s := string(body)
	pick := func(tag string) string {
		i := strings.Index(s, "<"+tag+">")
		j := strings.Index(s, "</"+tag+">")
		if i < 0 || j < i {
			return ""
		}
		return s[i+len(tag)+2 : j]
	}
	if c := pick("Code"); c != "" {
		return strings.TrimSpace(c + " " + pick("Message"))
	}
	return strings.TrimSpace(s)
}

func escapeSegment(s string) string { return url.PathEscape(s) }

func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// CopyFile copies a Local File revision to dst.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("local revision: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("local revision: " + src + " is not a regular file")
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
