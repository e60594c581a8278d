package appspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxContent bounds what we read. CodeDeploy's AppSpecContent.content is far
// smaller; the bound only keeps a hostile revision from costing much.
const maxContent = 4 << 20

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// load parses content, YAML or JSON, into the root mapping node. JSON is
// valid YAML for every document CodeDeploy accepts, so one parser serves
// both and both get line numbers; when a document that looks like JSON fails
// to parse, the JSON decoder's message is reported because it is the one the
// author will recognise.
func load(content []byte) (*yaml.Node, error) {
	if len(content) > maxContent {
		return nil, &Error{Msg: fmt.Sprintf("the AppSpec is %d bytes; at most %d are accepted", len(content), maxContent)}
	}
	content = bytes.TrimPrefix(content, []byte("\xef\xbb\xbf"))
	var d yaml.Node
	if err := yaml.Unmarshal(content, &d); err != nil {
		if looksJSON(content) {
			if jerr := jsonSyntaxError(content); jerr != nil {
				return nil, jerr
			}
		}
		return nil, yamlError(err)
	}
	if d.Kind == 0 || len(d.Content) == 0 {
		return nil, &Error{Msg: "the AppSpec is empty; it needs at least a version key"}
	}
	root := d.Content[0]
	if err := rejectAliases(root, 0); err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, errAt(root, "", "the AppSpec must be a mapping of keys to values at the top level, found %s", describe(root))
	}
	return root, nil
}

func looksJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

func jsonSyntaxError(b []byte) error {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return nil
	}
	off := int(se.Offset)
	if off > len(b) {
		off = len(b)
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(b[:off], '\n')
	return &Error{Line: line, Column: col, Msg: "invalid JSON: " + se.Error()}
}

func yamlError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// rejectAliases refuses anchors/aliases. They are never needed in an
// AppSpec, Ruby 3.1's Psych (the agent's YAML.load) refuses them too, and
// following them would let a small document expand into a huge tree.
func rejectAliases(n *yaml.Node, depth int) error {
	if n.Kind == yaml.AliasNode {
		return errAt(n, "", "YAML aliases (*%s) are not supported in an AppSpec", n.Value)
	}
	for _, c := range n.Content {
		if err := rejectAliases(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// describe names a node's type for error messages.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		case "!!str":
			return strconv.Quote(n.Value)
		default:
			return "a " + n.ShortTag() + " value"
		}
	}
	return "an unsupported value"
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// field is one key/value pair of a mapping.
type field struct {
	key  string
	kn   *yaml.Node
	val  *yaml.Node
	path string
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// fields lists a mapping's pairs, refusing non-scalar keys and duplicate keys
// (compared without case when fold is set, so "Name" and "name" collide where
// both spellings mean the same key). YAML parsers disagree on duplicates —
// Ruby keeps the last silently — so refusing them is the only unsurprising
// choice.
func fields(n *yaml.Node, path string, fold bool) ([]field, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, path, "expected a mapping, found %s", describe(n))
	}
	out := make([]field, 0, len(n.Content)/2)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			return nil, errAt(k, path, "keys must be plain strings, found %s", describe(k))
		}
		id := k.Value
		if fold {
			id = strings.ToLower(id)
		}
		if prev, dup := seen[id]; dup {
			return nil, errAt(k, joinPath(path, k.Value), "duplicate key (first given at line %d)", prev.Line)
		}
		seen[id] = k
		out = append(out, field{key: k.Value, kn: k, val: v, path: joinPath(path, k.Value)})
	}
	return out, nil
}

// text returns a scalar's text. Strings and numbers are accepted (a function
// alias or user name can look like a number); null, booleans and
// collections are not.
func text(n *yaml.Node, path string) (string, error) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float":
			return n.Value, nil
		}
	}
	return "", errAt(n, path, "expected a string, found %s", describe(n))
}

// nonEmptyText is text that must not be blank.
func nonEmptyText(n *yaml.Node, path string) (string, error) {
	s, err := text(n, path)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", errAt(n, path, "must not be empty")
	}
	return s, nil
}

// integer reads a whole number. Numeric strings are accepted only when
// allowString is set (see the callers for why).
func integer(n *yaml.Node, path string, allowString bool) (int64, error) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			var v int64
			if err := n.Decode(&v); err != nil {
				return 0, errAt(n, path, "number %s is out of range", n.Value)
			}
			return v, nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return int64(f), nil
			}
			return 0, errAt(n, path, "expected a whole number, found %s", n.Value)
		case "!!str":
			if allowString {
				s := strings.TrimSpace(n.Value)
				if v, err := strconv.ParseInt(s, 10, 64); err == nil {
					return v, nil
				}
				return 0, errAt(n, path, "expected a whole number, found %q", n.Value)
			}
		}
	}
	return 0, errAt(n, path, "expected a whole number, found %s", describe(n))
}

// stringList reads a list of non-empty strings.
func stringList(n *yaml.Node, path string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, path, "expected a list of strings, found %s", describe(n))
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		s, err := nonEmptyText(c, indexPath(path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// isZeroVersion reports whether a version node is the number 0.0 (an
// integer 0 compares equal to 0.0 in the agent's Ruby too).
func isZeroNumber(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		var f float64
		return n.Decode(&f) == nil && f == 0
	}
	return false
}

// suggest returns ` (did you mean "X"?)` when name is one of names but for
// case or a typo or two.
func suggest(name string, names []string) string {
	for _, c := range names {
		if c != name && strings.EqualFold(c, name) {
			return fmt.Sprintf(" (did you mean %q?)", c)
		}
	}
	if len(name) < 4 || len(name) > 64 {
		return ""
	}
	for _, c := range names {
		if c != name && editDistance(strings.ToLower(c), strings.ToLower(name)) <= 2 {
			return fmt.Sprintf(" (did you mean %q?)", c)
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
