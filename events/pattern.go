package events

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"path"
	"sort"
	"strings"
)

// Pattern is a compiled EventBridge event pattern. It evaluates the same
// JSON patterns that EventBridge rules use, so the local bus routes exactly
// as AWS does. Supported: exact strings, numbers, booleans and null, prefix,
// suffix, equals-ignore-case, wildcard, anything-but (values, prefix, suffix,
// equals-ignore-case, wildcard), exists, numeric ranges, cidr and $or.
type Pattern struct {
	root fieldSet
}

// fieldSet is an object level of a pattern: every field must match (AND),
// and each $or entry offers alternative field sets.
type fieldSet struct {
	fields map[string]node
	ors    [][]fieldSet
}

// node is either a nested object (obj) or a leaf list of matchers (OR).
type node struct {
	obj    *fieldSet
	leaves []matcher
}

// matcher tests one value. present is false when the field is absent.
type matcher func(v any, present bool) bool

// ParsePattern compiles a JSON event pattern, naming the first malformed
// part in its error.
func ParsePattern(data []byte) (*Pattern, error) {
	var raw map[string]any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	fs, err := compileObject(raw, "")
	if err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	return &Pattern{root: fs}, nil
}

// MustPattern compiles a pattern known to be valid (the routing table).
func MustPattern(p map[string]any) *Pattern {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	c, err := ParsePattern(b)
	if err != nil {
		panic(err)
	}
	return c
}

// Match reports whether the JSON event matches.
func (p *Pattern) Match(event []byte) (bool, error) {
	var ev any
	dec := json.NewDecoder(strings.NewReader(string(event)))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		return false, fmt.Errorf("event: %w", err)
	}
	return p.MatchValue(ev), nil
}

// MatchValue matches an already decoded event (numbers as json.Number or
// float64).
func (p *Pattern) MatchValue(event any) bool {
	obj, _ := event.(map[string]any)
	return p.root.match(obj)
}

func (fs fieldSet) match(obj map[string]any) bool {
	for name, n := range fs.fields {
		v, present := obj[name]
		if !n.match(v, present) {
			return false
		}
	}
	for _, alts := range fs.ors {
		ok := false
		for _, alt := range alts {
			if alt.match(obj) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (n node) match(v any, present bool) bool {
	if n.obj != nil {
		o, ok := v.(map[string]any)
		if !ok {
			// A nested pattern may still test absence ("exists": false).
			return n.obj.match(nil)
		}
		return n.obj.match(o)
	}
	// An array in the event matches if any element matches.
	if arr, ok := v.([]any); ok && present {
		for _, m := range n.leaves {
			for _, el := range arr {
				if m(el, true) {
					return true
				}
			}
		}
		return false
	}
	for _, m := range n.leaves {
		if m(v, present) {
			return true
		}
	}
	return false
}

func compileObject(raw map[string]any, at string) (fieldSet, error) {
	fs := fieldSet{fields: map[string]node{}}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		where := path.Join(at, k)
		switch v := raw[k].(type) {
		case map[string]any:
			sub, err := compileObject(v, where)
			if err != nil {
				return fs, err
			}
			fs.fields[k] = node{obj: &sub}
		case []any:
			if k == "$or" {
				alts, err := compileOr(v, where)
				if err != nil {
					return fs, err
				}
				fs.ors = append(fs.ors, alts)
				continue
			}
			if len(v) == 0 {
				return fs, fmt.Errorf("%s: empty array matches nothing", where)
			}
			var ms []matcher
			for _, el := range v {
				m, err := compileLeaf(el, where)
				if err != nil {
					return fs, err
				}
				ms = append(ms, m)
			}
			fs.fields[k] = node{leaves: ms}
		default:
			return fs, fmt.Errorf("%s: values must be arrays or objects, got %T", where, v)
		}
	}
	return fs, nil
}

func compileOr(v []any, at string) ([]fieldSet, error) {
	if len(v) < 2 {
		return nil, fmt.Errorf("%s: $or needs at least two alternatives", at)
	}
	alts := make([]fieldSet, 0, len(v))
	for _, el := range v {
		o, ok := el.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: $or alternatives must be objects", at)
		}
		fs, err := compileObject(o, at)
		if err != nil {
			return nil, err
		}
		alts = append(alts, fs)
	}
	return alts, nil
}

func compileLeaf(el any, at string) (matcher, error) {
	switch v := el.(type) {
	case string:
		return func(x any, ok bool) bool { s, isS := x.(string); return ok && isS && s == v }, nil
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("%s: bad number %s", at, v)
		}
		return func(x any, ok bool) bool { g, isN := number(x); return ok && isN && g == f }, nil
	case bool:
		return func(x any, ok bool) bool { b, isB := x.(bool); return ok && isB && b == v }, nil
	case nil:
		return func(x any, ok bool) bool { return ok && x == nil }, nil
	case map[string]any:
		if len(v) != 1 {
			return nil, fmt.Errorf("%s: a matcher object has exactly one operator, got %d", at, len(v))
		}
		for op, arg := range v {
			return compileOperator(op, arg, at)
		}
	}
	return nil, fmt.Errorf("%s: unsupported value %v", at, el)
}

func compileOperator(op string, arg any, at string) (matcher, error) {
	where := at + ": " + op
	switch op {
	case "prefix", "suffix", "equals-ignore-case", "wildcard":
		test, err := stringTest(op, arg, where)
		if err != nil {
			return nil, err
		}
		return func(x any, ok bool) bool { s, isS := x.(string); return ok && isS && test(s) }, nil
	case "anything-but":
		return compileAnythingBut(arg, where)
	case "exists":
		want, isB := arg.(bool)
		if !isB {
			return nil, fmt.Errorf("%s: needs true or false", where)
		}
		return func(x any, ok bool) bool { return ok == want }, nil
	case "numeric":
		return compileNumeric(arg, where)
	case "cidr":
		s, isS := arg.(string)
		pfx, err := netip.ParsePrefix(s)
		if !isS || err != nil {
			return nil, fmt.Errorf("%s: bad CIDR %v", where, arg)
		}
		return func(x any, ok bool) bool {
			s, isS := x.(string)
			if !ok || !isS {
				return false
			}
			a, err := netip.ParseAddr(s)
			return err == nil && pfx.Contains(a)
		}, nil
	}
	return nil, fmt.Errorf("%s: unknown operator", where)
}

// stringTest builds prefix/suffix/equals-ignore-case/wildcard tests; prefix
// and suffix also accept {"equals-ignore-case": "…"}.
func stringTest(op string, arg any, where string) (func(string) bool, error) {
	fold := false
	if m, ok := arg.(map[string]any); ok && (op == "prefix" || op == "suffix") && len(m) == 1 {
		arg, fold = m["equals-ignore-case"], true
	}
	s, ok := arg.(string)
	if !ok {
		return nil, fmt.Errorf("%s: needs a string", where)
	}
	switch op {
	case "prefix":
		if fold {
			return func(v string) bool { return len(v) >= len(s) && strings.EqualFold(v[:len(s)], s) }, nil
		}
		return func(v string) bool { return strings.HasPrefix(v, s) }, nil
	case "suffix":
		if fold {
			return func(v string) bool { return len(v) >= len(s) && strings.EqualFold(v[len(v)-len(s):], s) }, nil
		}
		return func(v string) bool { return strings.HasSuffix(v, s) }, nil
	case "equals-ignore-case":
		return func(v string) bool { return strings.EqualFold(v, s) }, nil
	default: // wildcard: * matches any run of characters, \* a literal star
		return func(v string) bool { return wildcard(s, v) }, nil
	}
}

func compileAnythingBut(arg any, where string) (matcher, error) {
	var inner []matcher
	switch a := arg.(type) {
	case []any:
		for _, el := range a {
			m, err := compileLeaf(el, where)
			if err != nil {
				return nil, err
			}
			inner = append(inner, m)
		}
	case map[string]any:
		if len(a) != 1 {
			return nil, fmt.Errorf("%s: one operator expected", where)
		}
		for op, v := range a {
			test, err := stringTest(op, v, where)
			if err != nil {
				return nil, err
			}
			inner = append(inner, func(x any, ok bool) bool { s, isS := x.(string); return ok && isS && test(s) })
		}
	default:
		m, err := compileLeaf(a, where)
		if err != nil {
			return nil, err
		}
		inner = append(inner, m)
	}
	return func(x any, ok bool) bool {
		if !ok {
			return false // anything-but needs the field to be there
		}
		for _, m := range inner {
			if m(x, ok) {
				return false
			}
		}
		return true
	}, nil
}

func compileNumeric(arg any, where string) (matcher, error) {
	a, ok := arg.([]any)
	if !ok || len(a) == 0 || len(a)%2 != 0 || len(a) > 4 {
		return nil, fmt.Errorf("%s: needs [op, n] or [op, n, op, n]", where)
	}
	type cmp struct {
		op string
		n  float64
	}
	var cs []cmp
	for i := 0; i < len(a); i += 2 {
		op, okOp := a[i].(string)
		n, okN := number(a[i+1])
		if !okOp || !okN {
			return nil, fmt.Errorf("%s: bad comparison %v %v", where, a[i], a[i+1])
		}
		switch op {
		case "<", "<=", "=", ">", ">=":
		default:
			return nil, fmt.Errorf("%s: unknown comparison %q", where, op)
		}
		cs = append(cs, cmp{op, n})
	}
	return func(x any, ok bool) bool {
		f, isN := number(x)
		if !ok || !isN {
			return false
		}
		for _, c := range cs {
			var pass bool
			switch c.op {
			case "<":
				pass = f < c.n
			case "<=":
				pass = f <= c.n
			case "=":
				pass = f == c.n
			case ">":
				pass = f > c.n
			case ">=":
				pass = f >= c.n
			}
			if !pass {
				return false
			}
		}
		return true
	}, nil
}

func number(x any) (float64, bool) {
	switch n := x.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// wildcard matches s against pattern p where * matches any run of
// characters and \* is a literal star.
func wildcard(p, s string) bool {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && p[i+1] == '*':
			cur.WriteByte('*')
			i++
		case p[i] == '*':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(p[i])
		}
	}
	parts = append(parts, cur.String())
	if len(parts) == 1 {
		return s == parts[0]
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}
