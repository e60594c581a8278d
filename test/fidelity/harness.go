package fidelity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Client sends signed JSON-protocol requests for one model and returns the
// raw answers, so that the bytes the server wrote are what gets checked.
type Client struct {
	Model    *Model
	Endpoint string
	Region   string
	Creds    aws.Credentials
	HTTP     *http.Client
}

// Response is one raw answer.
type Response struct {
	Status int
	Body   []byte
	// ErrorType is the __type of an error answer without any
	// "namespace#" prefix; empty on success.
	ErrorType string
}

// Call sends op with a JSON body.
func (c *Client) Call(ctx context.Context, op string, body []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-"+c.Model.Metadata.JSONVersion)
	req.Header.Set("X-Amz-Target", c.Model.Metadata.TargetPrefix+"."+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, c.Creds, req, hex.EncodeToString(sum[:]), c.Model.SigningName(), c.Region, time.Now()); err != nil {
		return Response{}, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	out := Response{Status: resp.StatusCode, Body: b}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type string `json:"__type"`
		}
		json.Unmarshal(b, &e)
		t := e.Type
		if t == "" {
			t = resp.Header.Get("X-Amzn-ErrorType")
		}
		if i := strings.LastIndexByte(t, '#'); i >= 0 {
			t = t[i+1:]
		}
		out.ErrorType, _, _ = strings.Cut(t, ":")
	}
	return out, nil
}

// Step is one call of a happy-path script. Body may refer to values
// captured by earlier steps as ${name}.
type Step struct {
	Op   string
	Body string
	// Capture stores string members of the answer under a name; the member
	// is a dotted path from the top ("taskSet.taskSetArn").
	Capture map[string]string
	// MayRefuse marks steps whose success depends on parts still being
	// built (deployments before the engine): a modelled error is logged,
	// not failed.
	MayRefuse bool
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Expand fills in captured values; ok is false when one is missing.
func (s Step) Expand(vars map[string]string) (body string, missing string) {
	body = placeholder.ReplaceAllStringFunc(s.Body, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := vars[name]
		if !ok {
			missing = name
			return m
		}
		b, _ := json.Marshal(v)
		return string(b[1 : len(b)-1])
	})
	return body, missing
}

// AllowedMissingMemberErrors is what an operation may answer when a
// required member is missing: one of its modelled errors, or, only when it
// models none, the generic validation errors every JSON service uses.
func (m *Model) AllowedMissingMemberErrors(op string) []string {
	if errs := m.ErrorNames(op); len(errs) > 0 {
		return errs
	}
	return []string{"SerializationException", "ValidationException"}
}

// WithoutMember returns body (a JSON object) minus one top-level member.
func WithoutMember(body []byte, member string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, err
	}
	delete(obj, member)
	return json.Marshal(obj)
}

// Snapshot digests every row of every table of a SQLite database except
// the leases, which background work may renew at any time. Two equal
// snapshots mean no request changed what is stored.
func Snapshot(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%lease%' ORDER BY name`)
	if err != nil {
		return "", err
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return "", err
		}
		tables = append(tables, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	h := sha256.New()
	for _, t := range tables {
		fmt.Fprintf(h, "table %s\n", t)
		r, err := db.QueryContext(ctx, `SELECT * FROM "`+strings.ReplaceAll(t, `"`, `""`)+`" ORDER BY 1, 2`)
		if err != nil {
			return "", fmt.Errorf("reading table %s: %w", t, err)
		}
		cols, _ := r.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for r.Next() {
			if err := r.Scan(ptrs...); err != nil {
				r.Close()
				return "", err
			}
			for _, v := range vals {
				fmt.Fprintf(h, "%v\x00", v)
			}
			h.Write([]byte{'\n'})
		}
		r.Close()
		if err := r.Err(); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// lookup follows a dotted path of object members in a decoded answer.
func lookup(v any, path string) (string, bool) {
	for _, part := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = obj[part]
	}
	s, ok := v.(string)
	return s, ok
}

// contains is slices.Contains, named for the reports.
func contains(list []string, s string) bool { return slices.Contains(list, s) }
