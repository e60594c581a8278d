package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// objectMeta is one object's record. ETag is the bare hex (no quotes).
type objectMeta struct {
	Bucket       string            `json:"bucket"`
	Key          string            `json:"key"`
	Size         int64             `json:"size"`
	ETag         string            `json:"etag"`
	LastModified time.Time         `json:"lastModified"`
	Headers      map[string]string `json:"headers,omitempty"` // Content-Type and the other stored entity headers
	Metadata     map[string]string `json:"metadata,omitempty"`
	Checksums    map[string]string `json:"checksums,omitempty"`
	Parts        int               `json:"parts,omitempty"`
	PartSizes    []int64           `json:"partSizes,omitempty"` // for GetObject ?partNumber=
	Blob         string            `json:"blob"`
}

func objKey(bucket, key string) string { return bucket + "/" + key }

// entityHeaders are the request headers S3 stores with an object and
// returns on GET and HEAD.
var entityHeaders = []string{"Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language", "Cache-Control", "Expires"}

const defaultContentType = "binary/octet-stream"

// maxMetadataSize is S3's limit on user metadata (names and values).
const maxMetadataSize = 2 << 10

// objectHeaders reads the stored headers and user metadata of a PUT,
// CreateMultipartUpload or CopyObject with REPLACE.
func objectHeaders(h http.Header) (map[string]string, map[string]string, error) {
	hdrs := map[string]string{}
	for _, n := range entityHeaders {
		v := h.Get(n)
		if n == "Content-Encoding" {
			// aws-chunked is the upload's framing, not the object's encoding.
			var keep []string
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
					keep = append(keep, e)
				}
			}
			v = strings.Join(keep, ",")
		}
		if v != "" {
			hdrs[n] = v
		}
	}
	if hdrs["Content-Type"] == "" {
		hdrs["Content-Type"] = defaultContentType
	}
	meta := map[string]string{}
	size := 0
	for k, vs := range h {
		name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-")
		if !ok || name == "" {
			continue
		}
		v := strings.Join(vs, ",")
		meta[name] = v
		size += len(name) + len(v)
	}
	if size > maxMetadataSize {
		return nil, nil, errf(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	}
	return hdrs, meta, nil
}

// receive streams an upload's body into a new durable blob, checking every
// digest the client declared; on any error nothing is kept.
func (s *Service) receive(r *http.Request) (*payload, string, error) {
	p, err := s.openPayload(r)
	if err != nil {
		return nil, "", err
	}
	f, err := s.blobs.create()
	if err != nil {
		return nil, "", fmt.Errorf("s3: create upload file: %w", err)
	}
	if _, err := io.Copy(f, p); err != nil {
		s.blobs.discard(f)
		if ae := asS3(err); ae != nil {
			return nil, "", ae
		}
		// The client went away or the body broke off.
		s.log.Debug("s3: reading upload", "err", err)
		return nil, "", errIncomplete
	}
	if err := p.finish(); err != nil {
		s.blobs.discard(f)
		return nil, "", err
	}
	name, err := s.blobs.commit(f)
	if err != nil {
		return nil, "", err
	}
	return p, name, nil
}

// readBody reads a small non-object body (XML documents) with the same
// payload checks as uploads.
func (s *Service) readBody(r *http.Request, limit int64) ([]byte, error) {
	p, err := s.openPayload(r)
	if err != nil {
		return nil, err
	}
	if p.want > limit {
		return nil, errMalformedXML
	}
	b, err := io.ReadAll(p)
	if err != nil {
		if ae := asS3(err); ae != nil {
			return nil, ae
		}
		return nil, errIncomplete
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return b, nil
}

func asS3(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if e := awsprotoErr(err); e != nil {
		return e
	}
	return nil
}

var awsprotoErr = awsproto.AsError

func quote(etag string) string { return `"` + etag + `"` }

func setChecksumHeaders(w http.ResponseWriter, sums map[string]string) {
	for name, v := range sums {
		if a := algByName(name); a != nil {
			w.Header().Set(a.header, v)
		}
	}
}

func (s *Service) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if len(key) > 1024 {
		return errf(400, "KeyTooLongError", "Your key is too long")
	}
	if err := s.bucketExists(r.Context(), bucket); err != nil {
		return err
	}
	hdrs, meta, err := objectHeaders(r.Header)
	if err != nil {
		return err
	}
	p, blob, err := s.receive(r)
	if err != nil {
		return err
	}
	o := &objectMeta{Bucket: bucket, Key: key, Size: p.n, ETag: p.etag(), LastModified: s.now().UTC(),
		Headers: hdrs, Metadata: meta, Checksums: p.checksums(), Blob: blob}
	if err := s.commitObject(r.Context(), o, r.Header); err != nil {
		s.blobs.remove(blob)
		return err
	}
	w.Header().Set("ETag", quote(o.ETag))
	setChecksumHeaders(w, o.Checksums)
	w.WriteHeader(http.StatusOK)
	return nil
}

// commitObject stores o, replacing any object at its key, once o's blob is
// durable; the replaced blob is removed after the commit. cond holds the
// conditional-write headers (If-Match, If-None-Match), may be nil.
func (s *Service) commitObject(ctx context.Context, o *objectMeta, cond http.Header) error {
	var old string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		old = ""
		if _, err := s.getBucket(tx, o.Bucket); err != nil {
			return err
		}
		rec := &store.Record{Kind: kindObject, Key: objKey(o.Bucket, o.Key), Index: o.Bucket}
		prev, prevRec, err := store.GetJSON[objectMeta](tx, kindObject, rec.Key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			prev = nil
		case err != nil:
			return err
		default:
			rec.Version = prevRec.Version
			old = prev.Blob
		}
		if cond != nil {
			if inm := cond.Get("If-None-Match"); inm != "" && prev != nil {
				return errPrecondition
			}
			if im := cond.Get("If-Match"); im != "" {
				if prev == nil {
					return errNoSuchKey(o.Key)
				}
				if !etagMatches(im, prev.ETag) {
					return errPrecondition
				}
			}
		}
		return store.PutJSON(tx, rec, o)
	})
	if err != nil {
		return err
	}
	if old != "" && old != o.Blob {
		s.blobs.remove(old)
	}
	return nil
}

// etagMatches evaluates an If-Match / If-None-Match list against etag.
func etagMatches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		e = strings.TrimPrefix(e, "W/")
		if e == "*" || strings.Trim(e, `"`) == etag {
			return true
		}
	}
	return false
}

func (s *Service) lookup(ctx context.Context, bucket, key string) (*objectMeta, error) {
	var o *objectMeta
	err := s.store.View(ctx, func(tx store.Tx) error {
		if _, err := s.getBucket(tx, bucket); err != nil {
			return err
		}
		var err error
		o, _, err = store.GetJSON[objectMeta](tx, kindObject, objKey(bucket, key))
		if errors.Is(err, store.ErrNotFound) {
			return errNoSuchKey(key)
		}
		return err
	})
	return o, err
}

// openObject returns the object's metadata and an open file on its bytes.
// An overwrite removes the old blob right after its commit, so a reader
// that lost that race reads the metadata again.
func (s *Service) openObject(ctx context.Context, bucket, key string) (*objectMeta, *os.File, error) {
	for range 3 {
		o, err := s.lookup(ctx, bucket, key)
		if err != nil {
			return nil, nil, err
		}
		f, err := s.blobs.open(o.Blob)
		if err == nil {
			return o, f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("s3: open %s/%s: %w", bucket, key, err)
		}
	}
	return nil, nil, fmt.Errorf("s3: %s/%s: blob keeps disappearing", bucket, key)
}

// checkConditions applies S3's rules for If-Match, If-Unmodified-Since,
// If-None-Match and If-Modified-Since (If-Match wins over
// If-Unmodified-Since; If-None-Match over If-Modified-Since).
func checkConditions(h http.Header, prefix string, etag string, mod time.Time) error {
	mod = mod.Truncate(time.Second)
	if v := h.Get(prefix + "If-Match"); v != "" {
		if !etagMatches(v, etag) {
			return errPrecondition
		}
	} else if v := h.Get(prefix + "If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && mod.After(t) {
			return errPrecondition
		}
	}
	if v := h.Get(prefix + "If-None-Match"); v != "" {
		if etagMatches(v, etag) {
			if prefix != "" {
				return errPrecondition
			}
			return errNotModified
		}
	} else if v := h.Get(prefix + "If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !mod.After(t) {
			if prefix != "" {
				return errPrecondition
			}
			return errNotModified
		}
	}
	return nil
}

// parseRange reads a single "bytes=" range. ok is false when there is no
// usable range (absent, malformed or several ranges): S3 then serves the
// whole object. An unsatisfiable range is errInvalidRange.
func parseRange(h string, size int64) (start, end int64, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, nil
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == "" && b == "":
		return 0, 0, false, nil
	case a == "":
		n, perr := strconv.ParseInt(b, 10, 64)
		if perr != nil || n < 0 {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, errInvalidRange(size)
		}
		if n > size {
			n = size
		}
		return size - n, size - 1, true, nil
	default:
		s, perr := strconv.ParseInt(a, 10, 64)
		if perr != nil || s < 0 {
			return 0, 0, false, nil
		}
		e := size - 1
		if b != "" {
			e, perr = strconv.ParseInt(b, 10, 64)
			if perr != nil || e < s {
				return 0, 0, false, nil
			}
			if e > size-1 {
				e = size - 1
			}
		}
		if s >= size {
			return 0, 0, false, errInvalidRange(size)
		}
		return s, e, true, nil
	}
}

// partRange is the byte range of one part of a multipart object (part 1
// of any other object is all of it), served as a 206 like a Range.
func partRange(o *objectMeta, pn string, withRange bool) (start, end int64, ok bool, err error) {
	if withRange {
		return 0, 0, false, errInvalidRequest("Cannot specify both Range header and partNumber query parameter")
	}
	n, err := parsePartNumber(pn)
	if err != nil {
		return 0, 0, false, err
	}
	sizes := o.PartSizes
	if len(sizes) == 0 {
		sizes = []int64{o.Size}
	}
	if n > len(sizes) {
		return 0, 0, false, errInvalidRange(o.Size)
	}
	for _, sz := range sizes[:n-1] {
		start += sz
	}
	if sizes[n-1] == 0 {
		return 0, 0, false, nil
	}
	return start, start + sizes[n-1] - 1, true, nil
}

type rangeError struct {
	apiError
	size int64
}

func errInvalidRange(size int64) error {
	return &rangeError{apiError: apiError{err: errf(416, "InvalidRange", "The requested range is not satisfiable")}, size: size}
}

// responseOverrides are GetObject's response-* query parameters.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func (s *Service) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	if v := q.Get("versionId"); v != "" && v != "null" {
		return &apiError{err: errf(404, "NoSuchVersion", "The specified version does not exist."), Key: key}
	}
	o, f, err := s.openObject(r.Context(), bucket, key)
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("ETag", quote(o.ETag))
	h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
	if err := checkConditions(r.Header, "", o.ETag, o.LastModified); err != nil {
		return err
	}
	for n, v := range o.Headers {
		h.Set(n, v)
	}
	for n, v := range o.Metadata {
		h["X-Amz-Meta-"+n] = []string{v}
	}
	if r.Method == http.MethodGet {
		for p, n := range responseOverrides {
			if v := q.Get(p); v != "" {
				h.Set(n, v)
			}
		}
	}
	h.Set("Accept-Ranges", "bytes")
	if o.Parts > 0 && q.Get("partNumber") != "" {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(o.Parts))
	}
	start, end, ranged, err := parseRange(r.Header.Get("Range"), o.Size)
	if pn := q.Get("partNumber"); pn != "" && err == nil {
		start, end, ranged, err = partRange(o, pn, r.Header.Get("Range") != "")
	}
	if err != nil {
		var re *rangeError
		if errors.As(err, &re) {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", re.size))
		}
		return err
	}
	status := http.StatusOK
	length := o.Size
	if ranged {
		status, length = http.StatusPartialContent, end-start+1
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, o.Size))
	} else if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		// Checksums describe the whole object, so a range never gets them.
		setChecksumHeaders(w, o.Checksums)
		if len(o.Checksums) > 0 {
			h.Set("x-amz-checksum-type", "FULL_OBJECT")
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, start, length)); err != nil {
		// The status is already sent; all that is left is to stop.
		s.log.Debug("s3: sending object", "bucket", bucket, "key", key, "err", err)
	}
	return nil
}

func (s *Service) deleteObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	blob, err := s.removeObject(r.Context(), bucket, key)
	if err != nil {
		return err
	}
	if blob != "" {
		s.blobs.remove(blob)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeObject deletes the record if there is one (deleting a missing key
// succeeds, as on S3) and returns the blob to remove.
func (s *Service) removeObject(ctx context.Context, bucket, key string) (string, error) {
	var blob string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		blob = ""
		if _, err := s.getBucket(tx, bucket); err != nil {
			return err
		}
		o, rec, err := store.GetJSON[objectMeta](tx, kindObject, objKey(bucket, key))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		blob = o.Blob
		return tx.Delete(kindObject, rec.Key, rec.Version)
	})
	return blob, err
}

func (s *Service) deleteObjects(w http.ResponseWriter, r *http.Request, bucket string) error {
	body, err := s.readBody(r, 2<<20)
	if err != nil {
		return err
	}
	var req struct {
		Quiet  bool
		Object []struct {
			Key       string
			VersionId string
		}
	}
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Object) == 0 || len(req.Object) > 1000 {
		return errMalformedXML
	}
	if err := s.bucketExists(r.Context(), bucket); err != nil {
		return err
	}
	type deleted struct{ Key string }
	type failed struct{ Key, Code, Message string }
	out := struct {
		XMLName xml.Name  `xml:"DeleteResult"`
		Xmlns   string    `xml:"xmlns,attr"`
		Deleted []deleted `xml:"Deleted"`
		Error   []failed  `xml:"Error"`
	}{Xmlns: xmlns}
	for _, o := range req.Object {
		blob, err := s.removeObject(r.Context(), bucket, o.Key)
		if err != nil {
			e := awsprotoErr(err)
			if e == nil {
				s.log.Error("s3: delete in DeleteObjects", "bucket", bucket, "key", o.Key, "err", err)
				out.Error = append(out.Error, failed{o.Key, "InternalError", "We encountered an internal error. Please try again."})
				continue
			}
			out.Error = append(out.Error, failed{o.Key, e.Code, e.Message})
			continue
		}
		s.blobs.remove(blob)
		if !req.Quiet {
			out.Deleted = append(out.Deleted, deleted{o.Key})
		}
	}
	return writeXML(w, 200, out)
}

// copySource parses x-amz-copy-source: "[/]bucket/key[?versionId=v]", URL-encoded.
func copySource(v string) (bucket, key string, err error) {
	raw, ver, _ := strings.Cut(v, "?versionId=")
	dec, uerr := url.PathUnescape(raw)
	if uerr != nil {
		return "", "", errInvalidArgument("Invalid copy source encoding")
	}
	dec = strings.TrimPrefix(dec, "/")
	bucket, key, ok := strings.Cut(dec, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", errInvalidArgument("Invalid copy source object key")
	}
	if ver != "" && ver != "null" {
		return "", "", &apiError{err: errf(404, "NoSuchVersion", "The specified version does not exist."), Key: key}
	}
	return bucket, key, nil
}

func (s *Service) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	sb, sk, err := copySource(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	directive := r.Header.Get("X-Amz-Metadata-Directive")
	switch directive {
	case "", "COPY", "REPLACE":
	default:
		return errInvalidArgument("Unknown metadata directive.")
	}
	if err := s.bucketExists(r.Context(), bucket); err != nil {
		return err
	}
	src, err := s.lookup(r.Context(), sb, sk)
	if err != nil {
		return err
	}
	if err := checkConditions(r.Header, "X-Amz-Copy-Source-", src.ETag, src.LastModified); err != nil {
		return err
	}
	if sb == bucket && sk == key && directive != "REPLACE" {
		return errInvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	hdrs, meta := src.Headers, src.Metadata
	if directive == "REPLACE" {
		if hdrs, meta, err = objectHeaders(r.Header); err != nil {
			return err
		}
	}
	blob, err := s.blobs.copyBlob(src.Blob)
	if err != nil {
		return err
	}
	o := &objectMeta{Bucket: bucket, Key: key, Size: src.Size, ETag: src.ETag, LastModified: s.now().UTC(),
		Headers: hdrs, Metadata: meta, Checksums: src.Checksums, Parts: src.Parts, Blob: blob}
	if err := s.commitObject(r.Context(), o, nil); err != nil {
		s.blobs.remove(blob)
		return err
	}
	return writeXML(w, 200, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		Xmlns        string   `xml:"xmlns,attr"`
		ETag         string
		LastModified s3Time
	}{Xmlns: xmlns, ETag: quote(o.ETag), LastModified: s3Time(o.LastModified)})
}
