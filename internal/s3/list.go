package s3

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"

	"github.com/cutover/cutover/internal/store"
)

type xmlObject struct {
	Key          string
	LastModified s3Time
	ETag         string
	Size         int64
	StorageClass string
	Owner        *owner `xml:",omitempty"`
}

// listing is one page of ListObjects: keys and common prefixes in key
// order, and where the next page starts.
type listing struct {
	objects   []*objectMeta
	prefixes  []string
	truncated bool
	// next is the key the next page starts after; for a common prefix it
	// is the prefix followed by 0xff, past every key under it (keys are
	// UTF-8, which never contains that byte).
	next string
	last string // the last key or prefix returned
}

const listBatch = 1000

// list walks the bucket's keys after start, folding keys that contain the
// delimiter after prefix into common prefixes, until max entries.
func (s *Service) list(tx store.Tx, bucket, prefix, delim, start string, max int) (*listing, error) {
	l := &listing{}
	base := bucket + "/"
	after := ""
	if start != "" {
		after = base + start
		// A v1 NextMarker may be a common prefix: resume past all of it.
		if delim != "" && strings.HasPrefix(start, prefix) && strings.HasSuffix(start, delim) {
			after += "\xff"
		}
	}
	count := 0
	for {
		objs, recs, err := store.ListJSON[objectMeta](tx, kindObject, store.ListOptions{Prefix: base + prefix, After: after, Limit: listBatch})
		if err != nil {
			return nil, err
		}
		if len(objs) == 0 {
			return l, nil
		}
		after = recs[len(recs)-1].Key
		for _, o := range objs {
			if delim != "" {
				if i := strings.Index(o.Key[len(prefix):], delim); i >= 0 {
					cp := o.Key[:len(prefix)+i+len(delim)]
					if count == max {
						l.truncated = true
						return l, nil
					}
					l.prefixes = append(l.prefixes, cp)
					l.last, l.next = cp, cp+"\xff"
					count++
					// Skip every other key under this prefix in one seek.
					after = base + cp + "\xff"
					break
				}
			}
			if count == max {
				l.truncated = true
				return l, nil
			}
			l.objects = append(l.objects, o)
			l.last, l.next = o.Key, o.Key
			count++
		}
	}
}

// urlEncode is S3's encoding-type=url form of a key.
func urlEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

func (s *Service) listObjects(w http.ResponseWriter, r *http.Request, bucket string) error {
	q := r.URL.Query()
	v2 := q.Get("list-type") == "2"
	max, err := maxParam(q, "max-keys", 1000)
	if err != nil {
		return err
	}
	enc := q.Get("encoding-type")
	if enc != "" && enc != "url" {
		return errInvalidArgument("Invalid Encoding Method specified in Request")
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	var start, token string
	if v2 {
		start = q.Get("start-after")
		if token = q.Get("continuation-token"); token != "" {
			b, err := base64.RawURLEncoding.DecodeString(token)
			if err != nil {
				return errInvalidArgument("The continuation token provided is incorrect")
			}
			start = string(b)
		}
	} else {
		start = q.Get("marker")
	}
	var l *listing
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, err := s.getBucket(tx, bucket); err != nil {
			return err
		}
		var err error
		l, err = s.list(tx, bucket, prefix, delim, start, max)
		return err
	})
	if err != nil {
		return err
	}
	e := func(s string) string {
		if enc == "url" {
			return urlEncode(s)
		}
		return s
	}
	fetchOwner := !v2 || q.Get("fetch-owner") == "true"
	contents := make([]xmlObject, 0, len(l.objects))
	for _, o := range l.objects {
		x := xmlObject{Key: e(o.Key), LastModified: s3Time(o.LastModified), ETag: quote(o.ETag), Size: o.Size, StorageClass: "STANDARD"}
		if fetchOwner {
			x.Owner = &theOwner
		}
		contents = append(contents, x)
	}
	cps := make([]xmlPrefix, len(l.prefixes))
	for i, p := range l.prefixes {
		cps[i] = xmlPrefix{e(p)}
	}
	if v2 {
		out := struct {
			XMLName               xml.Name `xml:"ListBucketResult"`
			Xmlns                 string   `xml:"xmlns,attr"`
			Name                  string
			Prefix                string
			Delimiter             string `xml:",omitempty"`
			MaxKeys               int
			EncodingType          string `xml:",omitempty"`
			KeyCount              int
			IsTruncated           bool
			ContinuationToken     string `xml:",omitempty"`
			NextContinuationToken string `xml:",omitempty"`
			StartAfter            string `xml:",omitempty"`
			Contents              []xmlObject
			CommonPrefixes        []xmlPrefix
		}{Xmlns: xmlns, Name: bucket, Prefix: e(prefix), Delimiter: e(delim), MaxKeys: max, EncodingType: enc,
			KeyCount: len(contents) + len(cps), IsTruncated: l.truncated, ContinuationToken: token,
			StartAfter: e(q.Get("start-after")), Contents: contents, CommonPrefixes: cps}
		if l.truncated {
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.next))
		}
		return writeXML(w, 200, out)
	}
	out := struct {
		XMLName        xml.Name `xml:"ListBucketResult"`
		Xmlns          string   `xml:"xmlns,attr"`
		Name           string
		Prefix         string
		Marker         string
		NextMarker     string `xml:",omitempty"`
		MaxKeys        int
		Delimiter      string `xml:",omitempty"`
		EncodingType   string `xml:",omitempty"`
		IsTruncated    bool
		Contents       []xmlObject
		CommonPrefixes []xmlPrefix
	}{Xmlns: xmlns, Name: bucket, Prefix: e(prefix), Marker: e(start), MaxKeys: max, Delimiter: e(delim), EncodingType: enc,
		IsTruncated: l.truncated, Contents: contents, CommonPrefixes: cps}
	// S3 gives NextMarker only with a delimiter; without one the client
	// continues from the last key.
	if l.truncated && delim != "" {
		out.NextMarker = e(l.last)
	}
	return writeXML(w, 200, out)
}
