package query

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/awsproto"
)

type tag struct {
	Key   string `query:"Key,required"`
	Value *string
}

type inner struct {
	Enabled *bool
	Seconds *int32 `query:"DurationSeconds,min=1,max=10"`
}

type input struct {
	Name     string `query:"Name,required"`
	PageSize *int32 `query:"PageSize,min=1,max=400"`
	Names    []string
	Tags     []tag
	Flat     []string          `query:"Item,flat"`
	Attrs    map[string]string `query:"Attributes"`
	SNSAttrs map[string]string `query:"MessageAttributes,key=Name,value=Value"`
	Config   *inner
	Lists    [][]string `query:"Nested"`
	Ratio    float64
	Big      int64
}

func ptr[T any](v T) *T { return &v }

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		form    string
		want    input
		errCode string
	}{
		{name: "minimal", form: "Name=a", want: input{Name: "a"}},
		{name: "missing required", form: "PageSize=3", errCode: "ValidationError"},
		{name: "int", form: "Name=a&PageSize=20", want: input{Name: "a", PageSize: ptr[int32](20)}},
		{name: "int not a number", form: "Name=a&PageSize=x", errCode: "ValidationError"},
		{name: "int below min", form: "Name=a&PageSize=0", errCode: "ValidationError"},
		{name: "int above max", form: "Name=a&PageSize=401", errCode: "ValidationError"},
		{name: "int overflow", form: "Name=a&PageSize=99999999999", errCode: "ValidationError"},
		{name: "list in index order", form: "Name=a&Names.member.2=y&Names.member.1=x&Names.member.10=z",
			want: input{Name: "a", Names: []string{"x", "y", "z"}}},
		{name: "empty list", form: "Name=a&Names=", want: input{Name: "a", Names: []string{}}},
		{name: "bad list index", form: "Name=a&Names.member.0=x", errCode: "ValidationError"},
		{name: "non-numeric list index", form: "Name=a&Names.member.one=x", errCode: "ValidationError"},
		{name: "list of structs", form: "Name=a&Tags.member.1.Key=k&Tags.member.1.Value=v&Tags.member.2.Key=k2",
			want: input{Name: "a", Tags: []tag{{Key: "k", Value: ptr("v")}, {Key: "k2"}}}},
		{name: "required inside list", form: "Name=a&Tags.member.1.Value=v", errCode: "ValidationError"},
		{name: "flat list", form: "Name=a&Item.1=p&Item.2=q", want: input{Name: "a", Flat: []string{"p", "q"}}},
		{name: "map", form: "Name=a&Attributes.entry.1.key=k&Attributes.entry.1.value=v",
			want: input{Name: "a", Attrs: map[string]string{"k": "v"}}},
		{name: "map renamed", form: "Name=a&MessageAttributes.entry.1.Name=k&MessageAttributes.entry.1.Value=v",
			want: input{Name: "a", SNSAttrs: map[string]string{"k": "v"}}},
		{name: "map without key", form: "Name=a&Attributes.entry.1.value=v", errCode: "ValidationError"},
		{name: "nested struct", form: "Name=a&Config.Enabled=true&Config.DurationSeconds=5",
			want: input{Name: "a", Config: &inner{Enabled: ptr(true), Seconds: ptr[int32](5)}}},
		{name: "bool case-insensitive", form: "Name=a&Config.Enabled=TRUE", want: input{Name: "a", Config: &inner{Enabled: ptr(true)}}},
		{name: "bad bool", form: "Name=a&Config.Enabled=yes", errCode: "ValidationError"},
		{name: "nested constraint", form: "Name=a&Config.DurationSeconds=11", errCode: "ValidationError"},
		{name: "list of lists", form: "Name=a&Nested.member.1.member.1=x", want: input{Name: "a", Lists: [][]string{{"x"}}}},
		{name: "float and int64", form: "Name=a&Ratio=0.5&Big=9000000000", want: input{Name: "a", Ratio: 0.5, Big: 9000000000}},
		{name: "bad float", form: "Name=a&Ratio=x", errCode: "ValidationError"},
		{name: "unknown ignored", form: "Name=a&Action=X&Version=1&Bogus.member.1=z", want: input{Name: "a"}},
		{name: "too deep", form: "Name=a&" + strings.Repeat("a.", 40) + "b=1", errCode: "ValidationError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form, err := url.ParseQuery(tc.form)
			if err != nil {
				t.Fatal(err)
			}
			var got input
			err = Decode(form, &got)
			if tc.errCode != "" {
				e := awsproto.AsError(err)
				if e == nil || e.Code != tc.errCode {
					t.Fatalf("err = %v, want code %s", err, tc.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"Name=a&Tags.member.1.Key=k", "Names.member.1=x&Names.member.3=y", "Attributes.entry.1.key=k",
		"Config.DurationSeconds=4&PageSize=2", "Nested.member.1.member.2=x", "Item.1=a", "a.b.c.d=e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		form, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		var in input
		if err := Decode(form, &in); err != nil && awsproto.AsError(err) == nil {
			t.Fatalf("non-AWS error %v", err)
		}
	})
}

type echoIn struct {
	Names []string
	Size  *int32 `query:"PageSize"`
}

type echoOut struct {
	Names  []string `xml:"Names>member"`
	Marker *string  `xml:"NextMarker,omitempty"`
	When   Time
}

func newTestService() *Service {
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), "http://example.com/doc/2015-12-01/", "2015-12-01")
	Handle(s, "Echo", func(ctx context.Context, in *echoIn) (*echoOut, error) {
		if len(in.Names) > 0 && in.Names[0] == "boom" {
			return nil, errors.New("secret internals")
		}
		if len(in.Names) > 0 && in.Names[0] == "missing" {
			return nil, awsproto.Errorf("LoadBalancerNotFound", "not here")
		}
		return &echoOut{Names: in.Names, When: Time{}}, nil
	})
	Handle(s, "Nothing", func(ctx context.Context, in *struct{}) (*struct{}, error) { return nil, nil })
	return s
}

func TestServeHTTP(t *testing.T) {
	srv := httptest.NewServer(newTestService())
	defer srv.Close()
	tests := []struct {
		name, method, query, body string
		status                    int
		want                      []string
	}{
		{name: "post", method: "POST", body: "Action=Echo&Version=2015-12-01&Names.member.1=a&Names.member.2=b", status: 200,
			want: []string{`<EchoResponse xmlns="http://example.com/doc/2015-12-01/"><EchoResult><Names><member>a</member><member>b</member></Names>`, `<ResponseMetadata><RequestId>`}},
		{name: "get", method: "GET", query: "Action=Echo&Version=2015-12-01&Names.member.1=a", status: 200, want: []string{`<member>a</member>`}},
		{name: "empty result", method: "POST", body: "Action=Nothing&Version=2015-12-01", status: 200, want: []string{`<NothingResult></NothingResult>`}},
		{name: "missing action", method: "POST", body: "Version=2015-12-01", status: 400, want: []string{`<Code>MissingAction</Code>`, `<Type>Sender</Type>`}},
		{name: "unknown action", method: "POST", body: "Action=Nope&Version=2015-12-01", status: 400, want: []string{`<Code>InvalidAction</Code>`}},
		{name: "wrong version", method: "POST", body: "Action=Echo&Version=2012-06-01", status: 400, want: []string{`<Code>InvalidAction</Code>`}},
		{name: "malformed number", method: "POST", body: "Action=Echo&Version=2015-12-01&PageSize=x", status: 400, want: []string{`<Code>ValidationError</Code>`}},
		{name: "malformed form", method: "POST", body: "Action=Echo&%zz", status: 404, want: []string{`<Code>MalformedQueryString</Code>`}},
		{name: "service error", method: "POST", body: "Action=Echo&Version=2015-12-01&Names.member.1=missing", status: 400,
			want: []string{`<ErrorResponse xmlns="http://example.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code><Message>not here</Message></Error><RequestId>`}},
		{name: "internal error hidden", method: "POST", body: "Action=Echo&Version=2015-12-01&Names.member.1=boom", status: 500,
			want: []string{`<Type>Receiver</Type><Code>InternalFailure</Code>`}},
		{name: "bad method", method: "PUT", body: "Action=Echo", status: 400, want: []string{`<Code>InvalidAction</Code>`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/?"+tc.query, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("body lacks %s:\n%s", w, b)
				}
			}
			if strings.Contains(string(b), "secret") {
				t.Errorf("internal error leaked: %s", b)
			}
			var anyXML struct{}
			if err := xml.Unmarshal(b, &anyXML); err != nil {
				t.Errorf("answer is not XML: %v", err)
			}
		})
	}
}

func TestClaimsKeepsBody(t *testing.T) {
	s := newTestService()
	body := "Action=Echo&Version=2015-12-01"
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !s.Claims(r) {
		t.Fatal("not claimed")
	}
	b, _ := io.ReadAll(r.Body)
	if string(b) != body {
		t.Fatalf("body after Claims = %q", b)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader("Action=Publish&Version=2010-03-31"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.Claims(r) {
		t.Fatal("claimed another service's version")
	}
}

func TestAuthErrors(t *testing.T) {
	s := newTestService()
	tests := []struct {
		f      awsproto.AuthFailure
		code   string
		status int
	}{
		{awsproto.AuthMissing, "MissingAuthenticationToken", 403},
		{awsproto.AuthIncomplete, "IncompleteSignature", 400},
		{awsproto.AuthUnknownKey, "InvalidClientTokenId", 403},
		{awsproto.AuthBadSignature, "SignatureDoesNotMatch", 403},
		{awsproto.AuthExpired, "RequestExpired", 400},
		{awsproto.AuthBadScope, "IncompleteSignature", 400},
		{awsproto.AuthPayloadMismatch, "SignatureDoesNotMatch", 403},
	}
	for _, tc := range tests {
		e := s.AuthError(tc.f, "m")
		if e.Code != tc.code || e.HTTPStatus() != tc.status {
			t.Errorf("%d: got %s %d, want %s %d", tc.f, e.Code, e.HTTPStatus(), tc.code, tc.status)
		}
	}
}
