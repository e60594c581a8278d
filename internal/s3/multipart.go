package s3

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/store"
)

type uploadMeta struct {
	UploadID          string            `json:"uploadId"`
	Bucket            string            `json:"bucket"`
	Key               string            `json:"key"`
	Initiated         time.Time         `json:"initiated"`
	Headers           map[string]string `json:"headers,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	ChecksumAlgorithm string            `json:"checksumAlgorithm,omitempty"`
}

type partMeta struct {
	UploadID     string            `json:"uploadId"`
	Number       int               `json:"number"`
	ETag         string            `json:"etag"`
	Size         int64             `json:"size"`
	LastModified time.Time         `json:"lastModified"`
	Checksums    map[string]string `json:"checksums,omitempty"`
	Blob         string            `json:"blob"`
}

// minPartSize is S3's lower bound for every part but the last.
const minPartSize = 5 << 20

const maxParts = 10000

// partKey orders parts by number within an upload.
func partKey(uploadID string, n int) string { return fmt.Sprintf("%s/%05d", uploadID, n) }

func newUploadID() string {
	var b [36]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// getUpload finds an upload and checks that it belongs to bucket/key, as
// S3 does: an upload id used with another key does not exist.
func (s *Service) getUpload(tx store.Tx, bucket, key, id string) (*uploadMeta, error) {
	if _, err := s.getBucket(tx, bucket); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errNoSuchUpload(id)
	}
	u, _, err := store.GetJSON[uploadMeta](tx, kindUpload, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (u.Bucket != bucket || u.Key != key) {
		return nil, errNoSuchUpload(id)
	}
	return u, err
}

// deleteUploadRecords removes an upload and its parts and returns the
// blobs to remove once the transaction is committed.
func deleteUploadRecords(tx store.Tx, id string) ([]string, error) {
	parts, recs, err := store.ListJSON[partMeta](tx, kindPart, store.ListOptions{Prefix: id + "/"})
	if err != nil {
		return nil, err
	}
	var blobs []string
	for i, p := range parts {
		if err := tx.Delete(kindPart, recs[i].Key, recs[i].Version); err != nil {
			return nil, err
		}
		blobs = append(blobs, p.Blob)
	}
	if err := tx.Delete(kindUpload, id, -1); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return blobs, nil
}

func (s *Service) createUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if len(key) > 1024 {
		return errf(400, "KeyTooLongError", "Your key is too long")
	}
	hdrs, meta, err := objectHeaders(r.Header)
	if err != nil {
		return err
	}
	alg := r.Header.Get("X-Amz-Checksum-Algorithm")
	if alg != "" {
		a := algByName(alg)
		if a == nil {
			return errInvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		alg = a.Name
	}
	u := uploadMeta{UploadID: newUploadID(), Bucket: bucket, Key: key, Initiated: s.now().UTC(), Headers: hdrs, Metadata: meta, ChecksumAlgorithm: alg}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := s.getBucket(tx, bucket); err != nil {
			return err
		}
		return store.PutJSON(tx, &store.Record{Kind: kindUpload, Key: u.UploadID, Index: bucket}, u)
	})
	if err != nil {
		return err
	}
	if alg != "" {
		w.Header().Set("x-amz-checksum-algorithm", alg)
	}
	return writeXML(w, 200, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Bucket   string
		Key      string
		UploadID string `xml:"UploadId"`
	}{Xmlns: xmlns, Bucket: bucket, Key: key, UploadID: u.UploadID})
}

func parsePartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxParts {
		return 0, errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

func (s *Service) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	n, err := parsePartNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	id := q.Get("uploadId")
	if r.Header.Get("X-Amz-Copy-Source") != "" {
		return errNotImpl
	}
	// Refuse an unknown upload before reading a possibly large body.
	if err := s.store.View(r.Context(), func(tx store.Tx) error {
		_, err := s.getUpload(tx, bucket, key, id)
		return err
	}); err != nil {
		return err
	}
	p, blob, err := s.receive(r)
	if err != nil {
		return err
	}
	part := partMeta{UploadID: id, Number: n, ETag: p.etag(), Size: p.n, LastModified: s.now().UTC(), Checksums: p.checksums(), Blob: blob}
	var old string
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		old = ""
		if _, err := s.getUpload(tx, bucket, key, id); err != nil {
			return err
		}
		rec := &store.Record{Kind: kindPart, Key: partKey(id, n), Index: id}
		prev, prevRec, err := store.GetJSON[partMeta](tx, kindPart, rec.Key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			rec.Version, old = prevRec.Version, prev.Blob
		}
		return store.PutJSON(tx, rec, part)
	})
	if err != nil {
		s.blobs.remove(blob)
		return err
	}
	if old != "" {
		s.blobs.remove(old)
	}
	w.Header().Set("ETag", quote(part.ETag))
	setChecksumHeaders(w, part.Checksums)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) completeUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	id := r.URL.Query().Get("uploadId")
	var req struct {
		Part []struct {
			PartNumber int
			ETag       string
		}
	}
	if err := s.readXML(r, &req, 4<<20); err != nil {
		if errors.Is(err, io.EOF) {
			return errMalformedXML
		}
		return err
	}
	if len(req.Part) == 0 {
		return errMalformedXML
	}
	for i := 1; i < len(req.Part); i++ {
		if req.Part[i].PartNumber <= req.Part[i-1].PartNumber {
			return errf(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
		}
	}
	var (
		u     *uploadMeta
		parts []*partMeta
	)
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		var err error
		if u, err = s.getUpload(tx, bucket, key, id); err != nil {
			return err
		}
		for i, want := range req.Part {
			p, _, err := store.GetJSON[partMeta](tx, kindPart, partKey(id, want.PartNumber))
			if errors.Is(err, store.ErrNotFound) || err == nil && strings.Trim(want.ETag, `" `) != p.ETag {
				return errf(400, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
			}
			if err != nil {
				return err
			}
			if i < len(req.Part)-1 && p.Size < minPartSize {
				return errf(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
			}
			parts = append(parts, p)
		}
		return nil
	})
	if err != nil {
		return err
	}

	// The object's ETag is the MD5 of the parts' binary MD5s, then "-N".
	sum := md5.New()
	srcs := make([]string, len(parts))
	sizes := make([]int64, len(parts))
	var size int64
	for i, p := range parts {
		sizes[i] = p.Size
		b, _ := hex.DecodeString(p.ETag)
		sum.Write(b)
		srcs[i] = p.Blob
		size += p.Size
	}
	etag := fmt.Sprintf("%s-%d", hex.EncodeToString(sum.Sum(nil)), len(parts))
	blob, err := s.blobs.copyBlob(srcs...)
	if err != nil {
		return err
	}
	o := &objectMeta{Bucket: bucket, Key: key, Size: size, ETag: etag, LastModified: s.now().UTC(),
		Headers: u.Headers, Metadata: u.Metadata, Parts: len(parts), PartSizes: sizes, Blob: blob}
	var garbage []string
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		garbage = garbage[:0]
		if _, err := s.getUpload(tx, bucket, key, id); err != nil {
			return err
		}
		rec := &store.Record{Kind: kindObject, Key: objKey(bucket, key), Index: bucket}
		prev, prevRec, err := store.GetJSON[objectMeta](tx, kindObject, rec.Key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			rec.Version = prevRec.Version
			garbage = append(garbage, prev.Blob)
		}
		if err := store.PutJSON(tx, rec, o); err != nil {
			return err
		}
		b, err := deleteUploadRecords(tx, id)
		garbage = append(garbage, b...)
		return err
	})
	if err != nil {
		s.blobs.remove(blob)
		return err
	}
	for _, b := range garbage {
		s.blobs.remove(b)
	}
	return writeXML(w, 200, struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Location string
		Bucket   string
		Key      string
		ETag     string
	}{Xmlns: xmlns, Location: "/" + bucket + "/" + key, Bucket: bucket, Key: key, ETag: quote(etag)})
}

func (s *Service) abortUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	id := r.URL.Query().Get("uploadId")
	var blobs []string
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := s.getUpload(tx, bucket, key, id); err != nil {
			return err
		}
		var err error
		blobs, err = deleteUploadRecords(tx, id)
		return err
	})
	if err != nil {
		return err
	}
	for _, b := range blobs {
		s.blobs.remove(b)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func maxParam(q map[string][]string, name string, def int) (int, error) {
	vs := q[name]
	if len(vs) == 0 || vs[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 0 {
		return 0, errInvalidArgument("Provided " + name + " not an integer or within integer range")
	}
	return min(n, def), nil
}

type xmlPrefix struct{ Prefix string }

func (s *Service) listUploads(w http.ResponseWriter, r *http.Request, bucket string) error {
	q := r.URL.Query()
	limit, err := maxParam(q, "max-uploads", 1000)
	if err != nil {
		return err
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	var ups []*uploadMeta
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, err := s.getBucket(tx, bucket); err != nil {
			return err
		}
		ups, _, err = store.ListJSON[uploadMeta](tx, kindUpload, store.ListOptions{Index: bucket})
		return err
	})
	if err != nil {
		return err
	}
	// Uploads are few and short-lived, so they are ordered here, by key and
	// then by initiation, rather than kept in a second index.
	sort.Slice(ups, func(i, j int) bool {
		a, b := ups[i], ups[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if !a.Initiated.Equal(b.Initiated) {
			return a.Initiated.Before(b.Initiated)
		}
		return a.UploadID < b.UploadID
	})
	type xu struct {
		Key          string
		UploadID     string `xml:"UploadId"`
		Initiator    owner
		Owner        owner
		StorageClass string
		Initiated    s3Time
	}
	out := struct {
		XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
		Xmlns              string   `xml:"xmlns,attr"`
		Bucket             string
		KeyMarker          string
		UploadIDMarker     string `xml:"UploadIdMarker"`
		NextKeyMarker      string `xml:",omitempty"`
		NextUploadIDMarker string `xml:"NextUploadIdMarker,omitempty"`
		Delimiter          string `xml:",omitempty"`
		Prefix             string
		MaxUploads         int
		IsTruncated        bool
		Upload             []xu
		CommonPrefixes     []xmlPrefix
	}{Xmlns: xmlns, Bucket: bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker, Delimiter: delim, Prefix: prefix, MaxUploads: limit}
	skipping := idMarker != ""
	lastCP := ""
	count := 0
	for _, u := range ups {
		if !strings.HasPrefix(u.Key, prefix) || u.Key < keyMarker {
			continue
		}
		if u.Key == keyMarker {
			if idMarker == "" {
				continue
			}
			if skipping {
				if u.UploadID == idMarker {
					skipping = false
				}
				continue
			}
		}
		if delim != "" {
			if i := strings.Index(u.Key[len(prefix):], delim); i >= 0 {
				cp := u.Key[:len(prefix)+i+len(delim)]
				if cp == lastCP {
					continue
				}
				if count == limit {
					out.IsTruncated = true
					break
				}
				lastCP = cp
				out.CommonPrefixes = append(out.CommonPrefixes, xmlPrefix{cp})
				out.NextKeyMarker, out.NextUploadIDMarker = cp, ""
				count++
				continue
			}
		}
		if count == limit {
			out.IsTruncated = true
			break
		}
		out.Upload = append(out.Upload, xu{u.Key, u.UploadID, theOwner, theOwner, "STANDARD", s3Time(u.Initiated)})
		out.NextKeyMarker, out.NextUploadIDMarker = u.Key, u.UploadID
		count++
	}
	return writeXML(w, 200, out)
}

func (s *Service) listParts(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	id := q.Get("uploadId")
	limit, err := maxParam(q, "max-parts", 1000)
	if err != nil {
		return err
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return errInvalidArgument("Provided part-number-marker not an integer or within integer range")
		}
	}
	var (
		u     *uploadMeta
		parts []*partMeta
	)
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		var err error
		if u, err = s.getUpload(tx, bucket, key, id); err != nil {
			return err
		}
		opts := store.ListOptions{Prefix: id + "/", Limit: limit + 1}
		if marker > 0 {
			opts.After = partKey(id, marker)
		}
		parts, _, err = store.ListJSON[partMeta](tx, kindPart, opts)
		return err
	})
	if err != nil {
		return err
	}
	type xp struct {
		PartNumber        int
		LastModified      s3Time
		ETag              string
		Size              int64
		ChecksumCRC32     string `xml:",omitempty"`
		ChecksumCRC32C    string `xml:",omitempty"`
		ChecksumCRC64NVME string `xml:",omitempty"`
		ChecksumSHA1      string `xml:",omitempty"`
		ChecksumSHA256    string `xml:",omitempty"`
	}
	out := struct {
		XMLName              xml.Name `xml:"ListPartsResult"`
		Xmlns                string   `xml:"xmlns,attr"`
		Bucket               string
		Key                  string
		UploadID             string `xml:"UploadId"`
		Initiator            owner
		Owner                owner
		StorageClass         string
		ChecksumAlgorithm    string `xml:",omitempty"`
		PartNumberMarker     int
		NextPartNumberMarker int
		MaxParts             int
		IsTruncated          bool
		Part                 []xp
	}{Xmlns: xmlns, Bucket: bucket, Key: key, UploadID: id, Initiator: theOwner, Owner: theOwner, StorageClass: "STANDARD",
		ChecksumAlgorithm: u.ChecksumAlgorithm, PartNumberMarker: marker, MaxParts: limit}
	if len(parts) > limit {
		parts, out.IsTruncated = parts[:limit], true
	}
	for _, p := range parts {
		out.Part = append(out.Part, xp{PartNumber: p.Number, LastModified: s3Time(p.LastModified), ETag: quote(p.ETag), Size: p.Size,
			ChecksumCRC32: p.Checksums["CRC32"], ChecksumCRC32C: p.Checksums["CRC32C"], ChecksumCRC64NVME: p.Checksums["CRC64NVME"],
			ChecksumSHA1: p.Checksums["SHA1"], ChecksumSHA256: p.Checksums["SHA256"]})
		out.NextPartNumberMarker = p.Number
	}
	return writeXML(w, 200, out)
}
