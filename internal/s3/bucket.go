package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/store"
)

const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// cutover has one account, so every bucket and object has the same owner.
const (
	ownerID   = "7c2e4b3a5f1d9e8c6b4a2f0e1d3c5b7a9f8e6d4c2b0a1f3e5d7c9b8a6f4e2d0c"
	ownerName = "cutover"
)

type owner struct {
	ID          string
	DisplayName string `xml:",omitempty"`
}

var theOwner = owner{ID: ownerID, DisplayName: ownerName}

type bucketMeta struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Region  string    `json:"region"`
}

// s3Time is S3's XML timestamp: ISO 8601 with milliseconds, UTC.
type s3Time time.Time

func (t s3Time) MarshalText() ([]byte, error) {
	return []byte(time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z")), nil
}

func writeXML(w http.ResponseWriter, status int, v any) error {
	out, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(out)
	return nil
}

// readXML decodes a small request body, checked like any payload; S3
// refuses what it cannot parse as MalformedXML. An empty body is io.EOF.
func (s *Service) readXML(r *http.Request, v any, limit int64) error {
	b, err := s.readBody(r, limit)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return io.EOF
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return errMalformedXML
	}
	return nil
}

// validBucketName applies S3's general-purpose bucket naming rules.
func validBucketName(n string) bool {
	if len(n) < 3 || len(n) > 63 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	if !alnum(n[0]) || !alnum(n[len(n)-1]) || strings.Contains(n, "..") {
		return false
	}
	if net.ParseIP(n) != nil {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(n, p) {
			return false
		}
	}
	for _, sfx := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(n, sfx) {
			return false
		}
	}
	return true
}

func (s *Service) getBucket(tx store.Tx, name string) (*bucketMeta, error) {
	b, _, err := store.GetJSON[bucketMeta](tx, kindBucket, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSuchBucket(name)
	}
	return b, err
}

func (s *Service) bucketExists(ctx context.Context, name string) error {
	return s.store.View(ctx, func(tx store.Tx) error {
		_, err := s.getBucket(tx, name)
		return err
	})
}

func (s *Service) createBucket(w http.ResponseWriter, r *http.Request, name string) error {
	if !validBucketName(name) {
		return &apiError{err: errf(400, "InvalidBucketName", "The specified bucket is not valid."), Bucket: name}
	}
	var conf struct {
		LocationConstraint string
	}
	switch err := s.readXML(r, &conf, 64<<10); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return err
	}
	// us-east-1 is written as no constraint at all (naming it is an
	// error, as on AWS); any other value must be the region this server is.
	switch lc := conf.LocationConstraint; {
	case lc == "":
	case lc == "us-east-1":
		return errf(400, "InvalidLocationConstraint", "The specified location-constraint is not valid")
	case lc != s.region:
		return errf(400, "IllegalLocationConstraintException", "The "+lc+" location constraint is incompatible for the region specific endpoint this request was sent to.")
	}
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tx.Get(kindBucket, name); err == nil {
			// S3 in us-east-1 answers a repeated create by the owner with 200
			// (a legacy it keeps); every other region says 409.
			if s.region == "us-east-1" {
				return nil
			}
			return &apiError{err: errf(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it."), Bucket: name}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return store.PutJSON(tx, &store.Record{Kind: kindBucket, Key: name}, bucketMeta{Name: name, Created: s.now().UTC(), Region: s.region})
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/"+name)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) headBucket(w http.ResponseWriter, r *http.Request, name string) error {
	if err := s.bucketExists(r.Context(), name); err != nil {
		return err
	}
	w.Header().Set("x-amz-bucket-region", s.region)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) getBucketLocation(w http.ResponseWriter, r *http.Request, name string) error {
	if err := s.bucketExists(r.Context(), name); err != nil {
		return err
	}
	loc := s.region
	if loc == "us-east-1" {
		loc = ""
	}
	return writeXML(w, 200, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Xmlns   string   `xml:"xmlns,attr"`
		Value   string   `xml:",chardata"`
	}{Xmlns: xmlns, Value: loc})
}

// getBucketVersioning answers that versioning was never enabled, which is
// true: cutover keeps one version of each object.
func (s *Service) getBucketVersioning(w http.ResponseWriter, r *http.Request, name string) error {
	if err := s.bucketExists(r.Context(), name); err != nil {
		return err
	}
	return writeXML(w, 200, struct {
		XMLName xml.Name `xml:"VersioningConfiguration"`
		Xmlns   string   `xml:"xmlns,attr"`
	}{Xmlns: xmlns})
}

// deleteBucket refuses a bucket with objects; unfinished multipart uploads
// do not keep it alive, they are aborted with it.
func (s *Service) deleteBucket(w http.ResponseWriter, r *http.Request, name string) error {
	var blobs []string
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		blobs = blobs[:0]
		if _, err := s.getBucket(tx, name); err != nil {
			return err
		}
		n, err := tx.Count(kindObject, store.ListOptions{Prefix: name + "/"})
		if err != nil {
			return err
		}
		if n > 0 {
			return &apiError{err: errf(409, "BucketNotEmpty", "The bucket you tried to delete is not empty"), Bucket: name}
		}
		ups, _, err := store.ListJSON[uploadMeta](tx, kindUpload, store.ListOptions{Index: name})
		if err != nil {
			return err
		}
		for _, u := range ups {
			b, err := deleteUploadRecords(tx, u.UploadID)
			if err != nil {
				return err
			}
			blobs = append(blobs, b...)
		}
		return tx.Delete(kindBucket, name, -1)
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

func (s *Service) listBuckets(w http.ResponseWriter, r *http.Request) error {
	var bs []*bucketMeta
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		var err error
		bs, _, err = store.ListJSON[bucketMeta](tx, kindBucket, store.ListOptions{})
		return err
	})
	if err != nil {
		return err
	}
	type xb struct {
		Name         string
		CreationDate s3Time
		BucketRegion string
	}
	out := struct {
		XMLName xml.Name `xml:"ListAllMyBucketsResult"`
		Xmlns   string   `xml:"xmlns,attr"`
		Owner   owner
		Buckets []xb `xml:"Buckets>Bucket"`
	}{Xmlns: xmlns, Owner: theOwner}
	for _, b := range bs {
		out.Buckets = append(out.Buckets, xb{b.Name, s3Time(b.Created), b.Region})
	}
	return writeXML(w, 200, out)
}
