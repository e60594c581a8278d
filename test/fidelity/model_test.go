package fidelity

import (
	"encoding/json"
	"strings"
	"testing"
)

// tinyModel covers each shape type the checker handles.
const tinyModel = `{
 "metadata": {"protocol":"json","jsonVersion":"1.1","targetPrefix":"Tiny_1","endpointPrefix":"tiny"},
 "operations": {
  "Get": {"name":"Get","input":{"shape":"GetIn"},"output":{"shape":"GetOut"},"errors":[{"shape":"NotFound"}]},
  "Ping": {"name":"Ping"}
 },
 "shapes": {
  "GetIn": {"type":"structure","required":["name","count"],"members":{"name":{"shape":"Name"},"count":{"shape":"Int"},"opt":{"shape":"Name"}}},
  "GetOut": {"type":"structure","members":{
    "name":{"shape":"Name"}, "kind":{"shape":"Kind"}, "count":{"shape":"Int"}, "ratio":{"shape":"Dbl"},
    "on":{"shape":"Bool"}, "at":{"shape":"Time"}, "tags":{"shape":"Tags"}, "attrs":{"shape":"Attrs"}}},
  "Name": {"type":"string","min":3},
  "Kind": {"type":"string","enum":["A","B"]},
  "Int": {"type":"integer","min":2},
  "Dbl": {"type":"double"},
  "Bool": {"type":"boolean"},
  "Time": {"type":"timestamp"},
  "Tags": {"type":"list","member":{"shape":"Name"}},
  "Attrs": {"type":"map","key":{"shape":"Name"},"value":{"shape":"Int"}},
  "NotFound": {"type":"structure","members":{},"exception":true}
 }
}`

func loadTiny(t *testing.T) *Model {
	t.Helper()
	m := &Model{}
	if err := json.Unmarshal([]byte(tinyModel), m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCheckOutput(t *testing.T) {
	m := loadTiny(t)
	tests := []struct {
		name string
		op   string
		body string
		want []string // substrings, one per expected problem
	}{
		{"all good", "Get", `{"name":"abc","kind":"A","count":3,"ratio":0.5,"on":true,"at":1700000000.123,"tags":["x"],"attrs":{"k":1}}`, nil},
		{"empty output", "Get", `{}`, nil},
		{"extra member", "Get", `{"name":"abc","bogus":1}`, []string{"$.bogus: member not in shape"}},
		{"string as number", "Get", `{"count":"3"}`, []string{"$.count: want number"}},
		{"fraction for an integer", "Get", `{"count":3.5}`, []string{"$.count: want an integer"}},
		{"timestamp as string", "Get", `{"at":"2024-01-01T00:00:00Z"}`, []string{"$.at: want epoch-seconds number"}},
		{"enum outside the model", "Get", `{"kind":"C"}`, []string{`"C" is not a value of enum Kind`}},
		{"enum quirk allowed", "Get", `{"kind":"Q"}`, nil},
		{"null member", "Get", `{"name":null}`, []string{"$.name: null value"}},
		{"list of wrong type", "Get", `{"tags":[1]}`, []string{"$.tags[0]: want string"}},
		{"map value of wrong type", "Get", `{"attrs":{"k":true}}`, []string{"$.attrs.k: want number"}},
		{"object where a list belongs", "Get", `{"tags":{}}`, []string{"$.tags: want array"}},
		{"no output shape, empty answer", "Ping", `{}`, nil},
		{"no output shape, members", "Ping", `{"x":1}`, []string{"has no output shape"}},
		{"not JSON", "Get", `nope`, []string{"not JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.CheckOutput(tt.op, []byte(tt.body), Quirks{"Kind": {"Q"}})
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q does not mention %q", got[i], w)
				}
			}
		})
	}
}

func TestSynthesizeAndWithoutMember(t *testing.T) {
	m := loadTiny(t)
	b, err := json.Marshal(m.Synthesize("GetIn"))
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	json.Unmarshal(b, &in)
	if s, _ := in["name"].(string); len(s) < 3 {
		t.Errorf("synthesized name %q shorter than the model's min", s)
	}
	if _, ok := in["opt"]; ok {
		t.Error("optional member synthesized")
	}
	out, err := WithoutMember(b, "name")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "name") || !strings.Contains(string(out), "count") {
		t.Errorf("WithoutMember(name) = %s", out)
	}
	if got := m.AllowedMissingMemberErrors("Get"); len(got) != 1 || got[0] != "NotFound" {
		t.Errorf("allowed errors for Get = %v", got)
	}
	if got := m.AllowedMissingMemberErrors("Ping"); len(got) != 2 {
		t.Errorf("allowed errors for an operation without modelled errors = %v", got)
	}
}

func TestStepExpand(t *testing.T) {
	tests := []struct {
		body, want, missing string
	}{
		{`{"id":"${id}"}`, `{"id":"d-123"}`, ""},
		{`{"id":"${quote}"}`, `{"id":"a\"b"}`, ""},
		{`{"id":"${nope}"}`, `{"id":"${nope}"}`, "nope"},
		{`{}`, `{}`, ""},
	}
	vars := map[string]string{"id": "d-123", "quote": `a"b`}
	for _, tt := range tests {
		got, missing := Step{Body: tt.body}.Expand(vars)
		if got != tt.want || missing != tt.missing {
			t.Errorf("Expand(%s) = %s, %q; want %s, %q", tt.body, got, missing, tt.want, tt.missing)
		}
	}
}
