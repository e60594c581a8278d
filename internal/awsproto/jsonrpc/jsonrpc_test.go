package jsonrpc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/awsproto"
)

// Shapes modelled on CreateDeployment, to exercise nested members.
type s3Location struct {
	Bucket     *string `json:"bucket"`
	Key        *string `json:"key"`
	BundleType *string `json:"bundleType"`
}

type revision struct {
	RevisionType *string     `json:"revisionType"`
	S3Location   *s3Location `json:"s3Location"`
}

type tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

type createDeploymentInput struct {
	ApplicationName *string           `json:"applicationName"`
	Revision        *revision         `json:"revision"`
	Tags            []tag             `json:"tags"`
	IgnoreFailure   *bool             `json:"ignoreApplicationStopFailures"`
	Count           *int32            `json:"count"`
	Attributes      map[string]string `json:"attributes"`
	Start           *awsproto.Time    `json:"start"`
}

type createDeploymentOutput struct {
	DeploymentID string `json:"deploymentId"`
}

func newTestService() *Service {
	s := New(nil, "1.1", "CodeDeploy_20141006")
	Handle(s, "CreateDeployment", func(ctx context.Context, in *createDeploymentInput) (*createDeploymentOutput, error) {
		if in.ApplicationName != nil && *in.ApplicationName == "missing" {
			return nil, awsproto.Errorf("ApplicationDoesNotExistException", "No application found for name: missing")
		}
		if in.ApplicationName != nil && *in.ApplicationName == "boom" {
			return nil, errors.New("database is on fire at /var/lib/secret.db")
		}
		return &createDeploymentOutput{DeploymentID: "d-ABCDEFGHI"}, nil
	})
	Handle(s, "ContinueDeployment", func(ctx context.Context, in *struct{}) (*struct{}, error) { return nil, nil })
	Handle(s, "BadOutput", func(ctx context.Context, in *struct{}) (*map[string]any, error) {
		return &map[string]any{"c": make(chan int)}, nil
	})
	return s
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestServeHTTP(t *testing.T) {
	const ct = "application/x-amz-json-1.1"
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		encoding    string
		body        string
		wantStatus  int
		wantType    string
		wantMessage string
		wantBody    string
	}{
		{name: "success", target: "CodeDeploy_20141006.CreateDeployment", body: `{"applicationName":"x","revision":{"revisionType":"S3","s3Location":{"bucket":"b"}}}`,
			wantStatus: 200, wantBody: `{"deploymentId":"d-ABCDEFGHI"}`},
		{name: "no output", target: "CodeDeploy_20141006.ContinueDeployment", body: `{}`, wantStatus: 200, wantBody: `{}`},
		{name: "empty body is {}", target: "CodeDeploy_20141006.ContinueDeployment", body: ``, wantStatus: 200, wantBody: `{}`},
		{name: "content type with charset", target: "CodeDeploy_20141006.ContinueDeployment", contentType: ct + "; charset=utf-8", body: `{}`, wantStatus: 200},
		{name: "json 1.0 content type", target: "CodeDeploy_20141006.ContinueDeployment", contentType: "application/x-amz-json-1.0", body: `{}`, wantStatus: 200},
		{name: "unknown members ignored", target: "CodeDeploy_20141006.ContinueDeployment", body: `{"whatever":[1,2,{"x":null}]}`, wantStatus: 200},
		{name: "gzip", target: "CodeDeploy_20141006.CreateDeployment", encoding: "gzip", body: gz(`{"applicationName":"x"}`),
			wantStatus: 200, wantBody: `{"deploymentId":"d-ABCDEFGHI"}`},

		{name: "missing target", target: "", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "unknown operation", target: "CodeDeploy_20141006.Nope", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "other prefix", target: "DynamoDB_20120810.CreateDeployment", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "target without dot", target: "CreateDeployment", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "GET", method: "GET", target: "CodeDeploy_20141006.ContinueDeployment", wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "wrong content type", target: "CodeDeploy_20141006.ContinueDeployment", contentType: "application/octet-stream", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "plain json content type", target: "CodeDeploy_20141006.ContinueDeployment", contentType: "application/json", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "no content type", target: "CodeDeploy_20141006.ContinueDeployment", contentType: "-", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},

		{name: "array body", target: "CodeDeploy_20141006.CreateDeployment", body: `[]`, wantStatus: 400, wantType: "SerializationException", wantMessage: "must be a JSON object"},
		{name: "string body", target: "CodeDeploy_20141006.CreateDeployment", body: `"x"`, wantStatus: 400, wantType: "SerializationException", wantMessage: "must be a JSON object"},
		{name: "null body", target: "CodeDeploy_20141006.CreateDeployment", body: `null`, wantStatus: 400, wantType: "SerializationException"},
		{name: "invalid json", target: "CodeDeploy_20141006.CreateDeployment", body: `{"applicationName":`, wantStatus: 400, wantType: "SerializationException", wantMessage: "Malformed JSON"},
		{name: "trailing garbage", target: "CodeDeploy_20141006.CreateDeployment", body: `{} {}`, wantStatus: 400, wantType: "SerializationException"},
		{name: "wrong type top level", target: "CodeDeploy_20141006.CreateDeployment", body: `{"applicationName":5}`, wantStatus: 400, wantType: "SerializationException",
			wantMessage: "member 'applicationName': expected a string, got JSON number"},
		{name: "wrong type nested", target: "CodeDeploy_20141006.CreateDeployment", body: `{"revision":{"s3Location":{"bucket":true}}}`, wantStatus: 400, wantType: "SerializationException",
			wantMessage: "member 'revision.s3Location.bucket'"},
		{name: "wrong type in list", target: "CodeDeploy_20141006.CreateDeployment", body: `{"tags":[{"Key":1}]}`, wantStatus: 400, wantType: "SerializationException",
			wantMessage: "Key"},
		{name: "list where object", target: "CodeDeploy_20141006.CreateDeployment", body: `{"revision":[]}`, wantStatus: 400, wantType: "SerializationException",
			wantMessage: "member 'revision': expected an object"},
		{name: "number overflow", target: "CodeDeploy_20141006.CreateDeployment", body: `{"count":99999999999}`, wantStatus: 400, wantType: "SerializationException", wantMessage: "count"},
		{name: "timestamp as string", target: "CodeDeploy_20141006.CreateDeployment", body: `{"start":"2020-01-01T00:00:00Z"}`, wantStatus: 400, wantType: "SerializationException", wantMessage: "start"},
		{name: "timestamp out of range", target: "CodeDeploy_20141006.CreateDeployment", body: `{"start":1e300}`, wantStatus: 400, wantType: "SerializationException"},
		{name: "bad gzip", target: "CodeDeploy_20141006.CreateDeployment", encoding: "gzip", body: `{"not":"gzip"}`, wantStatus: 400, wantType: "SerializationException", wantMessage: "gzip"},
		{name: "truncated gzip", target: "CodeDeploy_20141006.CreateDeployment", encoding: "gzip", body: gz(`{"applicationName":"x"}`)[:15], wantStatus: 400, wantType: "SerializationException", wantMessage: "gzip"},
		{name: "other encoding", target: "CodeDeploy_20141006.CreateDeployment", encoding: "br", body: `{}`, wantStatus: 400, wantType: "SerializationException", wantMessage: "Content-Encoding"},
		{name: "too large", target: "CodeDeploy_20141006.CreateDeployment", body: `{"applicationName":"` + strings.Repeat("x", 2000) + `"}`, wantStatus: 413, wantType: "SerializationException"},
		{name: "gzip bomb", target: "CodeDeploy_20141006.CreateDeployment", encoding: "gzip", body: gz(`{"applicationName":"` + strings.Repeat("x", 1<<20) + `"}`), wantStatus: 413, wantType: "SerializationException"},

		{name: "modelled error", target: "CodeDeploy_20141006.CreateDeployment", body: `{"applicationName":"missing"}`, wantStatus: 400,
			wantType: "ApplicationDoesNotExistException", wantMessage: "No application found for name: missing"},
		{name: "internal error hides cause", target: "CodeDeploy_20141006.CreateDeployment", body: `{"applicationName":"boom"}`, wantStatus: 500,
			wantType: "InternalFailure", wantMessage: "An internal error occurred"},
		{name: "unencodable output", target: "CodeDeploy_20141006.BadOutput", body: `{}`, wantStatus: 500, wantType: "InternalFailure"},
	}
	s := newTestService()
	s.maxBody = 1024
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/", strings.NewReader(tt.body))
			if tt.target != "" {
				r.Header.Set("X-Amz-Target", tt.target)
			}
			switch tt.contentType {
			case "":
				r.Header.Set("Content-Type", ct)
			case "-":
			default:
				r.Header.Set("Content-Type", tt.contentType)
			}
			if tt.encoding != "" {
				r.Header.Set("Content-Encoding", tt.encoding)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if got := w.Header().Get("Content-Type"); got != ct {
				t.Errorf("Content-Type %q", got)
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("body %s, want %s", w.Body, tt.wantBody)
			}
			if tt.wantType == "" {
				return
			}
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body %q: %v", w.Body, err)
			}
			if e.Type != tt.wantType || !strings.Contains(e.Message, tt.wantMessage) {
				t.Errorf("error %+v, want %s containing %q", e, tt.wantType, tt.wantMessage)
			}
			if w.Header().Get("X-Amzn-ErrorType") != tt.wantType {
				t.Errorf("X-Amzn-ErrorType %q", w.Header().Get("X-Amzn-ErrorType"))
			}
			if strings.Contains(w.Body.String(), "fire") {
				t.Error("internal error text leaked to the client")
			}
		})
	}
}

func TestAuthErrorsAndTooLarge(t *testing.T) {
	s := New(nil, "1.1", "X")
	tests := []struct {
		f    awsproto.AuthFailure
		code string
	}{
		{awsproto.AuthMissing, "MissingAuthenticationTokenException"},
		{awsproto.AuthIncomplete, "IncompleteSignatureException"},
		{awsproto.AuthUnknownKey, "UnrecognizedClientException"},
		{awsproto.AuthBadSignature, "InvalidSignatureException"},
		{awsproto.AuthExpired, "InvalidSignatureException"},
		{awsproto.AuthBadScope, "InvalidSignatureException"},
		{awsproto.AuthPayloadMismatch, "InvalidSignatureException"},
		{awsproto.AuthFailure(99), "InvalidSignatureException"},
	}
	for _, tt := range tests {
		if e := s.AuthError(tt.f, "m"); e.Code != tt.code || e.Message != "m" || e.HTTPStatus() != 400 {
			t.Errorf("AuthError(%v) = %+v", tt.f, e)
		}
	}
	if e := s.TooLarge(10); e.HTTPStatus() != http.StatusRequestEntityTooLarge {
		t.Errorf("TooLarge status %d", e.HTTPStatus())
	}
}

func TestOperationsAndClaims(t *testing.T) {
	s := newTestService()
	if got := strings.Join(s.Operations(), ","); got != "BadOutput,ContinueDeployment,CreateDeployment" {
		t.Fatalf("Operations = %s", got)
	}
	for target, want := range map[string]bool{
		"CodeDeploy_20141006.Anything": true,
		"CodeDeploy_20141006":          true,
		"DynamoDB_20120810.ListTables": false,
		"":                             false,
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("X-Amz-Target", target)
		if s.Claims(r) != want {
			t.Errorf("Claims(%q) != %v", target, want)
		}
	}
}

// FuzzDecode sends arbitrary bodies to an operation with a nested input:
// every answer must be a 200 or a well-formed client error, never a panic
// or a 500.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{}`, ``, `[]`, `null`, `{"applicationName":"x"}`,
		`{"revision":{"revisionType":"S3","s3Location":{"bucket":"b","key":"k","bundleType":"zip"}}}`,
		`{"tags":[{"Key":"a","Value":"b"}],"attributes":{"a":"b"},"count":3,"start":1700000000.5}`,
		`{"revision":{"s3Location":[]}}`, `{"count":1e400}`, `{"start":"x"}`, "{\"a\":\"\xff\"}",
	} {
		f.Add([]byte(seed), false)
	}
	f.Add([]byte(gz(`{"applicationName":"x"}`)), true)
	s := newTestService()
	s.maxBody = 1 << 16
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("X-Amz-Target", "CodeDeploy_20141006.CreateDeployment")
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if gzipped {
			r.Header.Set("Content-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Header().Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Fatalf("Content-Type %q", w.Header().Get("Content-Type"))
		}
		switch w.Code {
		case http.StatusOK:
			if w.Body.String() != `{"deploymentId":"d-ABCDEFGHI"}` {
				// "missing" and "boom" are the only names with other answers.
				var in createDeploymentInput
				if json.Unmarshal(body, &in) != nil || in.ApplicationName == nil {
					t.Fatalf("unexpected 200 body %s", w.Body)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusInternalServerError:
			var e map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body is not JSON: %q", w.Body)
			}
			typ, _ := e["__type"].(string)
			if typ == "" {
				t.Fatalf("error without __type: %s", w.Body)
			}
			if w.Code == http.StatusInternalServerError && typ != "InternalFailure" {
				t.Fatalf("500 with %s", typ)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
