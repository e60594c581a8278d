package lambda

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
)

// maxUnzipped is AWS's limit on a function's unzipped code (250 MB).
const maxUnzipped = 262144000

// codeStore keeps code zips by the hex SHA-256 of their bytes, so that
// versions sharing code share one file.
type codeStore struct{ dir string }

func newCodeStore(dir string) (*codeStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lambda: creating %s: %w", dir, err)
	}
	return &codeStore{dir: dir}, nil
}

func (c *codeStore) path(blob string) string { return filepath.Join(c.dir, blob+".zip") }

// zipCode is a checked code package ready to be referenced by a version.
type zipCode struct {
	Blob   string // hex SHA-256
	Sha256 string // base64 SHA-256, as CodeSha256
	Size   int64
}

// put checks that b is a zip AWS would accept and stores it.
func (c *codeStore) put(b []byte) (zipCode, error) {
	if err := checkZip(b); err != nil {
		return zipCode{}, err
	}
	sum := sha256.Sum256(b)
	z := zipCode{Blob: hex.EncodeToString(sum[:]), Sha256: base64.StdEncoding.EncodeToString(sum[:]), Size: int64(len(b))}
	dst := c.path(z.Blob)
	if _, err := os.Stat(dst); err == nil {
		return z, nil
	}
	tmp, err := os.CreateTemp(c.dir, "upload-*")
	if err != nil {
		return zipCode{}, fmt.Errorf("lambda: storing code: %w", err)
	}
	_, werr := tmp.Write(b)
	if serr := tmp.Sync(); werr == nil {
		werr = serr
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), dst)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return zipCode{}, fmt.Errorf("lambda: storing code: %w", werr)
	}
	return z, nil
}

var errBadZip = errInvalidParam("Could not unzip uploaded file. Please check your file, then try to upload again.")

// checkZip refuses what is not a zip, entries that would escape the task
// root, and archives over the unzipped limit (so a zip bomb is refused
// before anything is extracted).
func checkZip(b []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return errBadZip
	}
	var total uint64
	for _, f := range zr.File {
		if !fs.ValidPath(strings.TrimSuffix(f.Name, "/")) && f.Name != "" {
			return errBadZip
		}
		total += f.UncompressedSize64
		if total > maxUnzipped {
			return errInvalidParam("Unzipped size must be smaller than %d bytes", maxUnzipped)
		}
	}
	return nil
}

// extract unzips blob into dir, keeping the archive's file modes (so that
// a bootstrap packed without its executable bit fails as it does on AWS).
func (c *codeStore) extract(blob, dir string) error {
	zr, err := zip.OpenReader(c.path(blob))
	if err != nil {
		return fmt.Errorf("lambda: opening code %s: %w", blob, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		name := strings.TrimSuffix(f.Name, "/")
		if name == "" || !fs.ValidPath(name) {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("lambda: extracting %s: %w", name, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("lambda: extracting %s: %w", name, err)
		}
		if err := extractFile(f, dst); err != nil {
			return fmt.Errorf("lambda: extracting %s: %w", name, err)
		}
	}
	return nil
}

func extractFile(f *zip.File, dst string) error {
	mode := f.Mode().Perm()
	if mode == 0 {
		mode = 0o644
	}
	if f.Mode()&fs.ModeSymlink != 0 {
		return nil // links could point outside the task root; AWS functions rarely carry them
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.LimitReader(rc, maxUnzipped))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// sweep removes zips that no version references.
func (c *codeStore) sweep(keep map[string]bool) error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("lambda: listing code: %w", err)
	}
	var errs []error
	for _, e := range entries {
		blob, ok := strings.CutSuffix(e.Name(), ".zip")
		if ok && keep[blob] {
			continue
		}
		if err := os.Remove(filepath.Join(c.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// codeInput is a code package as requests carry it.
type codeInput struct {
	ZipFile         []byte `json:"ZipFile"`
	S3Bucket        string `json:"S3Bucket"`
	S3Key           string `json:"S3Key"`
	S3ObjectVersion string `json:"S3ObjectVersion"`
	ImageURI        string `json:"ImageUri"`
}

// load returns the zip bytes of a Zip package from the request or S3.
func (s *Service) loadZip(ctx context.Context, in codeInput) ([]byte, error) {
	switch {
	case in.ZipFile != nil && in.S3Bucket != "":
		return nil, errInvalidParam("Please provide a source for function code: either a ZipFile or an S3Bucket and S3Key, not both.")
	case in.ZipFile != nil:
		return in.ZipFile, nil
	case in.S3Bucket != "" || in.S3Key != "":
		if in.S3Bucket == "" || in.S3Key == "" {
			return nil, errInvalidParam("Please provide both S3Bucket and S3Key for the function code.")
		}
		return s.readS3(ctx, in)
	default:
		return nil, errInvalidParam("Please provide a source for function code.")
	}
}

func (s *Service) readS3(ctx context.Context, in codeInput) ([]byte, error) {
	if s.objects == nil {
		return nil, errInvalidParam("Error occurred while GetObject. S3 Error Code: NotImplemented. S3 Error Message: no object store is configured for code packages")
	}
	rc, err := s.objects.Open(ctx, in.S3Bucket, in.S3Key, in.S3ObjectVersion)
	if err != nil {
		if e := awsproto.AsError(err); e != nil {
			return nil, errInvalidParam("Error occurred while GetObject. S3 Error Code: %s. S3 Error Message: %s", e.Code, e.Message)
		}
		return nil, fmt.Errorf("lambda: reading s3://%s/%s: %w", in.S3Bucket, in.S3Key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxUnzipped+1))
	if err != nil {
		return nil, fmt.Errorf("lambda: reading s3://%s/%s: %w", in.S3Bucket, in.S3Key, err)
	}
	if len(b) > maxUnzipped {
		return nil, errInvalidParam("Unzipped size must be smaller than %d bytes", maxUnzipped)
	}
	return b, nil
}
