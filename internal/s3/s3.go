// Package s3 serves the subset of Amazon S3 cutover needs for revision
// bundles: buckets, objects (with S3's payload signing forms, checksums and
// conditional reads), listing, copy and multipart uploads, over REST-XML
// behind the awsproto router. Metadata lives in the store; object bytes
// are files under a data directory, made durable before the metadata that
// names them is committed.
package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// Config configures a Service.
type Config struct {
	Region  string
	DataDir string
	Store   store.Store
	Log     *slog.Logger
	Now     func() time.Time
	// Seeds checks chunk signatures of aws-chunked uploads; normally the
	// router's *sigv4.Verifier. Without it signed streaming uploads are
	// refused (unsigned ones still work).
	Seeds SeedSource
	// BaseDomains are the hosts under which "<bucket>.<base>" addresses a
	// bucket virtual-host style. Default: s3.localhost, localhost, and
	// s3.<region>.amazonaws.com / s3.amazonaws.com.
	BaseDomains []string
}

// Service is the S3 API.
type Service struct {
	region string
	store  store.Store
	log    *slog.Logger
	now    func() time.Time
	seeds  SeedSource
	blobs  *blobs
	bases  []string
}

// Store record kinds. Object keys are "<bucket>/<key>": bucket names
// cannot contain '/', and the store orders keys by bytes, which is the
// order ListObjects must return.
const (
	kindBucket = "s3.bucket"
	kindObject = "s3.object"
	kindUpload = "s3.upload"
	kindPart   = "s3.part"
)

// New opens the data directory and removes what a crash left behind:
// temporary files and blobs no metadata names.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.DataDir == "" {
		return nil, errors.New("s3: Store and DataDir are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b, err := newBlobs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	bases := cfg.BaseDomains
	if len(bases) == 0 {
		bases = []string{"s3.localhost", "localhost", "s3." + cfg.Region + ".amazonaws.com", "s3.amazonaws.com"}
	}
	// Longest first, so "b.s3.localhost" is bucket "b" and not "b.s3".
	bases = append([]string(nil), bases...)
	sort.Slice(bases, func(i, j int) bool { return len(bases[i]) > len(bases[j]) })
	s := &Service{region: cfg.Region, store: cfg.Store, log: cfg.Log, now: cfg.Now, seeds: cfg.Seeds, blobs: b, bases: bases}
	if err := s.sweep(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) sweep(ctx context.Context) error {
	keep := map[string]bool{}
	err := s.store.View(ctx, func(tx store.Tx) error {
		objs, _, err := store.ListJSON[objectMeta](tx, kindObject, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, o := range objs {
			keep[o.Blob] = true
		}
		parts, _, err := store.ListJSON[partMeta](tx, kindPart, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, p := range parts {
			keep[p.Blob] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("s3: reading metadata for sweep: %w", err)
	}
	n, err := s.blobs.sweep(keep)
	if n > 0 {
		s.log.Info("s3: removed orphaned upload files", "count", n)
	}
	return err
}

// Register serves the service on rt under signing name "s3". The router
// must not read bodies (MaxBody 0): uploads are streamed and checked here.
func (s *Service) Register(rt *awsproto.Router) {
	rt.Register(&awsproto.Service{
		Names:    []string{"s3"},
		Protocol: protocol{s},
		Handler:  s,
		MaxBody:  0,
		Claims:   s.Claims,
	})
}

// Protocol is S3's error codec, for callers that serve the handler
// without Register.
func (s *Service) Protocol() awsproto.Protocol { return protocol{s} }

// Claims reports whether an unsigned request was meant for S3, so that it
// is refused in S3's XML. It is deliberately narrow, because claiming a
// request takes it away from the dashboard and health endpoints: a
// virtual-host bucket address, or a bucket-shaped path on an S3 method
// that carries an S3 header or a (non-SigV4) Authorization header.
func (s *Service) Claims(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.URL.Path, "/2015-03-31/") {
		return false
	}
	if b, ok := s.hostBucket(r.Host); ok && b != "" {
		return true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPost:
	default:
		return false
	}
	marked := r.Header.Get("X-Amz-Content-Sha256") != "" || strings.HasPrefix(r.Header.Get("Authorization"), "AWS ")
	if !marked {
		return false
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return first == "" || validBucketName(first)
}

// hostBucket finds a virtual-host-style bucket in host. ok is false when
// host is not under a base domain; bucket is "" when host is a base
// domain itself (path style).
func (s *Service) hostBucket(host string) (bucket string, ok bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, b := range s.bases {
		if host == b {
			return "", true
		}
	}
	for _, b := range s.bases {
		if name, found := strings.CutSuffix(host, "."+b); found && name != "" {
			return name, true
		}
	}
	return "", false
}

// target splits a request into bucket and key, virtual-host or path style.
func (s *Service) target(r *http.Request) (bucket, key string) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	if b, ok := s.hostBucket(r.Host); ok && b != "" {
		return b, path
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// unsupported are subresources cutover does not implement; answering
// NotImplemented keeps them from being mistaken for object operations.
var unsupported = []string{"acl", "policy", "cors", "lifecycle", "tagging", "website", "logging",
	"notification", "replication", "encryption", "object-lock", "ownershipControls",
	"publicAccessBlock", "accelerate", "requestPayment", "analytics", "inventory", "metrics",
	"intelligent-tiering", "legal-hold", "retention", "torrent", "restore", "select",
	"attributes", "versions", "policyStatus", "session", "renameObject"}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amz-request-id", awsproto.RequestID(r.Context()))
	w.Header().Set("Server", "cutover")
	bucket, key := s.target(r)
	q := r.URL.Query()
	for _, sub := range unsupported {
		if q.Has(sub) {
			s.writeErr(w, r, errNotImpl)
			return
		}
	}
	var err error
	switch {
	case bucket == "":
		if r.Method != http.MethodGet {
			err = errMethod
			break
		}
		err = s.listBuckets(w, r)
	case key == "":
		err = s.bucketOp(w, r, bucket, q)
	default:
		err = s.objectOp(w, r, bucket, key, q)
	}
	if err != nil {
		s.writeErr(w, r, err)
	}
}

func (s *Service) bucketOp(w http.ResponseWriter, r *http.Request, bucket string, q map[string][]string) error {
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch r.Method {
	case http.MethodPut:
		if has("versioning") {
			return errNotImpl
		}
		return s.createBucket(w, r, bucket)
	case http.MethodHead:
		return s.headBucket(w, r, bucket)
	case http.MethodDelete:
		return s.deleteBucket(w, r, bucket)
	case http.MethodGet:
		switch {
		case has("location"):
			return s.getBucketLocation(w, r, bucket)
		case has("versioning"):
			return s.getBucketVersioning(w, r, bucket)
		case has("uploads"):
			return s.listUploads(w, r, bucket)
		default:
			return s.listObjects(w, r, bucket)
		}
	case http.MethodPost:
		if has("delete") {
			return s.deleteObjects(w, r, bucket)
		}
		return errNotImpl
	}
	return errMethod
}

func (s *Service) objectOp(w http.ResponseWriter, r *http.Request, bucket, key string, q map[string][]string) error {
	has := func(k string) bool { _, ok := q[k]; return ok }
	// Keys are UTF-8 on S3; anything else could not be listed in XML.
	if !utf8.ValidString(key) {
		return errInvalidArgument("Object key is not valid UTF-8")
	}
	switch r.Method {
	case http.MethodPut:
		if has("uploadId") || has("partNumber") {
			return s.uploadPart(w, r, bucket, key)
		}
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return s.copyObject(w, r, bucket, key)
		}
		return s.putObject(w, r, bucket, key)
	case http.MethodGet, http.MethodHead:
		if has("uploadId") && r.Method == http.MethodGet {
			return s.listParts(w, r, bucket, key)
		}
		return s.getObject(w, r, bucket, key)
	case http.MethodDelete:
		if has("uploadId") {
			return s.abortUpload(w, r, bucket, key)
		}
		return s.deleteObject(w, r, bucket, key)
	case http.MethodPost:
		switch {
		case has("uploads"):
			return s.createUpload(w, r, bucket, key)
		case has("uploadId"):
			return s.completeUpload(w, r, bucket, key)
		}
		return errNotImpl
	}
	return errMethod
}
