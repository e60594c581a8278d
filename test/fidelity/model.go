// Package fidelity checks cutover's wire answers against botocore's service
// models, the same models the AWS CLI and boto3 use to parse responses. It
// walks the model generically, so a service is added by giving its name, a
// server to send requests to, and a happy-path script.
package fidelity

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ErrNoBotocore means the machine has no Python botocore to read models from.
var ErrNoBotocore = errors.New("python3 with botocore is not installed")

// Model is the part of a botocore service-2.json that describes the wire.
type Model struct {
	Metadata struct {
		Protocol       string `json:"protocol"`
		JSONVersion    string `json:"jsonVersion"`
		TargetPrefix   string `json:"targetPrefix"`
		EndpointPrefix string `json:"endpointPrefix"`
		SigningName    string `json:"signingName"`
	} `json:"metadata"`
	Operations map[string]*Operation `json:"operations"`
	Shapes     map[string]*Shape     `json:"shapes"`
}

// Operation is one API operation.
type Operation struct {
	Name   string     `json:"name"`
	Input  *ShapeRef  `json:"input"`
	Output *ShapeRef  `json:"output"`
	Errors []ShapeRef `json:"errors"`
}

// ShapeRef points at a shape, as a member or an operation's input/output.
type ShapeRef struct {
	Shape    string `json:"shape"`
	JSONName string `json:"jsonName"`
}

// Shape is a botocore shape.
type Shape struct {
	Type            string              `json:"type"`
	Members         map[string]ShapeRef `json:"members"`
	Required        []string            `json:"required"`
	Member          *ShapeRef           `json:"member"`
	Key             *ShapeRef           `json:"key"`
	Value           *ShapeRef           `json:"value"`
	Enum            []string            `json:"enum"`
	Min             *float64            `json:"min"`
	TimestampFormat string              `json:"timestampFormat"`
	Exception       bool                `json:"exception"`
}

// BotocoreDir finds the installed botocore package.
func BotocoreDir() (string, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return "", ErrNoBotocore
	}
	out, err := exec.Command(py, "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		return "", ErrNoBotocore
	}
	return strings.TrimSpace(string(out)), nil
}

// LoadBotocore reads the newest model of a service ("codedeploy", "ecs",
// "lambda") from the installed botocore.
func LoadBotocore(service string) (*Model, error) {
	dir, err := BotocoreDir()
	if err != nil {
		return nil, err
	}
	versions, err := filepath.Glob(filepath.Join(dir, "data", service, "*", "service-2.json*"))
	if err != nil || len(versions) == 0 {
		return nil, fmt.Errorf("no botocore model for %s under %s", service, dir)
	}
	sort.Strings(versions) // API versions are dates: the last is the newest
	return LoadFile(versions[len(versions)-1])
}

// LoadFile reads a service-2.json or service-2.json.gz.
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var dec *json.Decoder
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		dec = json.NewDecoder(zr)
	} else {
		dec = json.NewDecoder(f)
	}
	m := &Model{}
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	for name, op := range m.Operations {
		if op.Name == "" {
			op.Name = name
		}
	}
	return m, nil
}

// SigningName is the SigV4 service name.
func (m *Model) SigningName() string {
	if m.Metadata.SigningName != "" {
		return m.Metadata.SigningName
	}
	return m.Metadata.EndpointPrefix
}

// OperationNames lists the model's operations, sorted.
func (m *Model) OperationNames() []string {
	names := make([]string, 0, len(m.Operations))
	for n := range m.Operations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrorNames lists the exceptions an operation may answer with.
func (m *Model) ErrorNames(op string) []string {
	o := m.Operations[op]
	if o == nil {
		return nil
	}
	var names []string
	for _, e := range o.Errors {
		names = append(names, e.Shape)
	}
	return names
}

// RequiredInputs lists an operation's required top-level input members.
func (m *Model) RequiredInputs(op string) []string {
	o := m.Operations[op]
	if o == nil || o.Input == nil {
		return nil
	}
	return slices.Clone(m.Shapes[o.Input.Shape].Required)
}

// memberName is the name a member has on the wire.
func memberName(name string, ref ShapeRef) string {
	if ref.JSONName != "" {
		return ref.JSONName
	}
	return name
}

// Quirks lists, per shape name, values real AWS returns that the model does
// not enumerate (CodeDeploy's MOST_CONCURRENCY for MinimumHealthyHostsType).
type Quirks map[string][]string

// CheckOutput validates a raw JSON response body against an operation's
// output shape and returns every problem found, each with its JSON path.
func (m *Model) CheckOutput(op string, body []byte, quirks Quirks) []string {
	o := m.Operations[op]
	if o == nil {
		return []string{fmt.Sprintf("operation %s is not in the model", op)}
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []string{fmt.Sprintf("response is not JSON: %v", err)}
	}
	if o.Output == nil {
		// Operations without output answer an empty object.
		if obj, ok := v.(map[string]any); !ok || len(obj) != 0 {
			return []string{fmt.Sprintf("operation has no output shape but answered %s", body)}
		}
		return nil
	}
	c := checker{m: m, quirks: quirks}
	c.check("$", v, o.Output.Shape)
	return c.problems
}

type checker struct {
	m        *Model
	quirks   Quirks
	problems []string
}

func (c *checker) fail(path, format string, args ...any) {
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

func (c *checker) check(path string, v any, shapeName string) {
	sh := c.m.Shapes[shapeName]
	if sh == nil {
		c.fail(path, "shape %s is missing from the model", shapeName)
		return
	}
	if v == nil {
		// AWS omits empty members rather than sending null; the SDKs accept
		// null, but botocore-based clients print it, so it is a difference.
		c.fail(path, "null value (AWS omits absent members)")
		return
	}
	switch sh.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "want object (%s), got %s", shapeName, jsonType(v))
			return
		}
		byWire := map[string]ShapeRef{}
		for name, ref := range sh.Members {
			byWire[memberName(name, ref)] = ref
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ref, ok := byWire[k]
			if !ok {
				c.fail(path+"."+k, "member not in shape %s", shapeName)
				continue
			}
			c.check(path+"."+k, obj[k], ref.Shape)
		}
	case "list":
		arr, ok := v.([]any)
		if !ok {
			c.fail(path, "want array (%s), got %s", shapeName, jsonType(v))
			return
		}
		for i, e := range arr {
			c.check(fmt.Sprintf("%s[%d]", path, i), e, sh.Member.Shape)
		}
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "want object (map %s), got %s", shapeName, jsonType(v))
			return
		}
		for k, e := range obj {
			c.check(path+"."+k, k, sh.Key.Shape)
			c.check(path+"."+k, e, sh.Value.Shape)
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			c.fail(path, "want string (%s), got %s", shapeName, jsonType(v))
			return
		}
		if len(sh.Enum) > 0 && !slices.Contains(sh.Enum, s) && !slices.Contains(c.quirks[shapeName], s) {
			c.fail(path, "%q is not a value of enum %s %v", s, shapeName, sh.Enum)
		}
	case "blob":
		if _, ok := v.(string); !ok {
			c.fail(path, "want base64 string (%s), got %s", shapeName, jsonType(v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			c.fail(path, "want boolean (%s), got %s", shapeName, jsonType(v))
		}
	case "integer", "long":
		n, ok := v.(json.Number)
		if !ok {
			c.fail(path, "want number (%s), got %s", shapeName, jsonType(v))
			return
		}
		if _, err := n.Int64(); err != nil {
			c.fail(path, "want an integer (%s), got %s", shapeName, n)
		}
	case "float", "double":
		if _, ok := v.(json.Number); !ok {
			c.fail(path, "want number (%s), got %s", shapeName, jsonType(v))
		}
	case "timestamp":
		// JSON protocols send epoch seconds unless the shape says otherwise;
		// the Go SDK refuses anything else.
		switch sh.TimestampFormat {
		case "iso8601", "rfc822":
			if _, ok := v.(string); !ok {
				c.fail(path, "want %s timestamp string, got %s", sh.TimestampFormat, jsonType(v))
			}
		default:
			if _, ok := v.(json.Number); !ok {
				c.fail(path, "want epoch-seconds number (%s), got %s", shapeName, jsonType(v))
			}
		}
	default:
		c.fail(path, "unhandled shape type %s (%s)", sh.Type, shapeName)
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// Synthesize builds a value with every required member of a shape, for
// operations the happy-path script does not cover. The values are
// well-typed, not necessarily accepted.
func (m *Model) Synthesize(shapeName string) any {
	return m.synth(shapeName, 0)
}

func (m *Model) synth(shapeName string, depth int) any {
	sh := m.Shapes[shapeName]
	if sh == nil || depth > 8 {
		return nil
	}
	switch sh.Type {
	case "structure":
		obj := map[string]any{}
		for _, name := range sh.Required {
			ref := sh.Members[name]
			obj[memberName(name, ref)] = m.synth(ref.Shape, depth+1)
		}
		return obj
	case "list":
		return []any{m.synth(sh.Member.Shape, depth+1)}
	case "map":
		return map[string]any{"fidelity": m.synth(sh.Value.Shape, depth+1)}
	case "string":
		if len(sh.Enum) > 0 {
			return sh.Enum[0]
		}
		s := "fidelity"
		if sh.Min != nil {
			for len(s) < int(*sh.Min) {
				s += "x"
			}
		}
		return s
	case "blob":
		return "ZmlkZWxpdHk="
	case "boolean":
		return true
	case "integer", "long", "float", "double":
		if sh.Min != nil && *sh.Min > 1 {
			return *sh.Min
		}
		return 1
	case "timestamp":
		return 1700000000
	}
	return nil
}
