package s3

import (
	"context"
	"io"
	"time"
)

// ObjectInfo describes a stored object for in-process callers (CodeDeploy
// revisions, the agent's bundle download) that read bundles without HTTP.
type ObjectInfo struct {
	Bucket       string
	Key          string
	Size         int64
	ETag         string // hex MD5, or "<md5>-<parts>" for multipart objects; no quotes
	VersionID    string // always "": cutover keeps one version per key
	LastModified time.Time
	ContentType  string
	Metadata     map[string]string // user metadata, lower-case names without x-amz-meta-
	Checksums    map[string]string // algorithm name (CRC32, SHA256, ...) → base64 value
}

func (o *objectMeta) info() ObjectInfo {
	return ObjectInfo{Bucket: o.Bucket, Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified,
		ContentType: o.Headers["Content-Type"], Metadata: o.Metadata, Checksums: o.Checksums}
}

// checkVersion refuses a version id cutover cannot have: only "" and
// "null" (S3's name for the unversioned object) exist.
func checkVersion(key, version string) error {
	if version != "" && version != "null" {
		return &apiError{err: errf(404, "NoSuchVersion", "The specified version does not exist."), Key: key}
	}
	return nil
}

// Head returns an object's description. Errors are *awsproto.Error values
// with S3's codes (NoSuchBucket, NoSuchKey, NoSuchVersion) when the object
// is not there.
func (s *Service) Head(ctx context.Context, bucket, key, version string) (ObjectInfo, error) {
	if err := checkVersion(key, version); err != nil {
		return ObjectInfo{}, err
	}
	o, err := s.lookup(ctx, bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return o.info(), nil
}

// Open returns the object's bytes and description. The reader stays
// valid even if the object is overwritten or deleted meanwhile; the
// caller must close it.
func (s *Service) Open(ctx context.Context, bucket, key, version string) (io.ReadCloser, ObjectInfo, error) {
	if err := checkVersion(key, version); err != nil {
		return nil, ObjectInfo{}, err
	}
	o, f, err := s.openObject(ctx, bucket, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return f, o.info(), nil
}
