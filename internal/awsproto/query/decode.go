package query

import (
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cutover/cutover/internal/awsproto"
)

// A form is decoded in two steps: its keys are split on "." into a tree
// ("Tags.member.1.Key" becomes Tags → member → 1 → Key), then the tree is
// walked along the target type. The tree makes every lookup a map access, so
// decoding costs O(parameters) however deep or wide the input type is.
type node struct {
	val  string
	has  bool // a parameter with exactly this name was sent
	kids map[string]*node
}

// maxDepth bounds the nesting of a parameter name. No AWS Query shape nests
// deeper than a handful of levels; the bound keeps a hostile form from
// building a deep tree.
const maxDepth = 32

func buildTree(form url.Values) (*node, error) {
	root := &node{}
	for key, vals := range form {
		parts := strings.Split(key, ".")
		if len(parts) > maxDepth {
			return nil, validationf("Parameter name %q is nested too deeply", truncate(key))
		}
		n := root
		for _, p := range parts {
			if n.kids == nil {
				n.kids = map[string]*node{}
			}
			c := n.kids[p]
			if c == nil {
				c = &node{}
				n.kids[p] = c
			}
			n = c
		}
		n.has = true
		if len(vals) > 0 {
			// A repeated parameter keeps its first value, as url.Values.Get does.
			n.val = vals[0]
		}
	}
	return root, nil
}

// field is how one struct field is found in the form.
type field struct {
	index    int
	name     string
	required bool
	// flat lists have no "member" level: Name.1, Name.2 (EC2 style).
	flat bool
	// member, entry, key and value rename the list and map levels.
	member, entry, key, value string
	min, max                  *int64
}

type plan struct{ fields []field }

var plans sync.Map // reflect.Type → *plan

// planFor reads a struct type's `query` tags once:
//
//	query:"Name,required,flat,min=1,max=400,member=item,entry=entry,key=Name,value=Value"
//
// The name defaults to the Go field name; "-" skips the field.
func planFor(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := &plan{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("query")
		if tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		f := field{index: i, name: parts[0], member: "member", entry: "entry", key: "key", value: "value"}
		if f.name == "" {
			f.name = sf.Name
		}
		for _, opt := range parts[1:] {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "required":
				f.required = true
			case "flat":
				f.flat = true
			case "member":
				f.member = v
			case "entry":
				f.entry = v
			case "key":
				f.key = v
			case "value":
				f.value = v
			case "min", "max":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					panic(fmt.Sprintf("query: bad %s in tag of %s.%s: %v", k, t, sf.Name, err))
				}
				if k == "min" {
					f.min = &n
				} else {
					f.max = &n
				}
			default:
				panic(fmt.Sprintf("query: unknown tag option %q on %s.%s", opt, t, sf.Name))
			}
		}
		p.fields = append(p.fields, f)
	}
	plans.Store(t, p)
	return p
}

// Decode fills v (a pointer to a struct) from a Query form. Parameters the
// type does not name (Action, Version, X-Amz-*) are ignored, as AWS ignores
// them. Failures are ValidationError *awsproto.Error values.
func Decode(form url.Values, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("query: Decode needs a pointer to a struct")
	}
	root, err := buildTree(form)
	if err != nil {
		return err
	}
	return decodeStruct(root, rv.Elem(), "")
}

func decodeStruct(n *node, v reflect.Value, path string) error {
	p := planFor(v.Type())
	for _, f := range p.fields {
		fpath := f.name
		if path != "" {
			fpath = path + "." + f.name
		}
		var c *node
		if n != nil {
			c = n.kids[f.name]
		}
		if c == nil {
			if f.required {
				return validationf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", fpath)
			}
			continue
		}
		if err := decodeValue(c, v.Field(f.index), fpath, &f); err != nil {
			return err
		}
	}
	return nil
}

func decodeValue(n *node, v reflect.Value, path string, f *field) error {
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		if err := decodeValue(n, e.Elem(), path, f); err != nil {
			return err
		}
		v.Set(e)
		return nil
	case reflect.Struct:
		return decodeStruct(n, v, path)
	case reflect.Slice:
		return decodeList(n, v, path, f)
	case reflect.Map:
		return decodeMap(n, v, path, f)
	case reflect.String:
		v.SetString(n.val)
		return nil
	case reflect.Bool:
		switch strings.ToLower(n.val) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean (true or false)", truncate(n.val), path)
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(n.val), 10, v.Type().Bits())
		if err != nil {
			return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be an integer", truncate(n.val), path)
		}
		if f != nil && f.min != nil && i < *f.min {
			return validationf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", i, path, *f.min)
		}
		if f != nil && f.max != nil && i > *f.max {
			return validationf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", i, path, *f.max)
		}
		v.SetInt(i)
		return nil
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(strings.TrimSpace(n.val), v.Type().Bits())
		if err != nil {
			return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a number", truncate(n.val), path)
		}
		v.SetFloat(x)
		return nil
	}
	panic(fmt.Sprintf("query: cannot decode into %s at %s", v.Type(), path))
}

// indexed returns the children of n named 1, 2, 3, ... in numeric order.
// Gaps are tolerated (AWS SDKs never send them, and refusing would gain
// nothing); names that are not positive integers are an error.
func indexed(n *node, path string) ([]*node, error) {
	if n == nil {
		return nil, nil
	}
	type item struct {
		i int
		n *node
	}
	items := make([]item, 0, len(n.kids))
	for k, c := range n.kids {
		i, err := strconv.Atoi(k)
		if err != nil || i < 1 || strconv.Itoa(i) != k {
			return nil, validationf("Invalid list index '%s' in parameter '%s'", truncate(k), path)
		}
		items = append(items, item{i, c})
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]*node, len(items))
	for j, it := range items {
		out[j] = it.n
	}
	return out, nil
}

func decodeList(n *node, v reflect.Value, path string, f *field) error {
	container, member := n, "member"
	if f != nil {
		member = f.member
	}
	if f == nil || !f.flat {
		container = n.kids[member]
		path += "." + member
	}
	elems, err := indexed(container, path)
	if err != nil {
		return err
	}
	// "Names=" with no members is how SDKs send an empty, non-nil list.
	s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
	for i, e := range elems {
		// Constraints in the tag apply to the list, not its elements.
		if err := decodeValue(e, s.Index(i), path+"."+strconv.Itoa(i+1), nil); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

func decodeMap(n *node, v reflect.Value, path string, f *field) error {
	entry, key, value := "entry", "key", "value"
	if f != nil {
		entry, key, value = f.entry, f.key, f.value
	}
	path += "." + entry
	entries, err := indexed(n.kids[entry], path)
	if err != nil {
		return err
	}
	m := reflect.MakeMapWithSize(v.Type(), len(entries))
	for i, e := range entries {
		epath := path + "." + strconv.Itoa(i+1)
		kn, vn := e.kids[key], e.kids[value]
		if kn == nil {
			return validationf("1 validation error detected: Value null at '%s.%s' failed to satisfy constraint: Member must not be null", epath, key)
		}
		kv := reflect.New(v.Type().Key()).Elem()
		if err := decodeValue(kn, kv, epath+"."+key, nil); err != nil {
			return err
		}
		vv := reflect.New(v.Type().Elem()).Elem()
		if vn != nil {
			if err := decodeValue(vn, vv, epath+"."+value, nil); err != nil {
				return err
			}
		}
		m.SetMapIndex(kv, vv)
	}
	v.Set(m)
	return nil
}

func validationf(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("ValidationError", format, args...)
}

// truncate keeps hostile input from filling an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
