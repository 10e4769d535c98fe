// Package pattern matches events against the EventBridge event patterns of
// the routing table (events.Rules), so that the local bus routes as AWS
// does. It implements only what those rules use: exact values (strings,
// numbers, booleans, null), the prefix operator, and nested objects. Any
// other part of EventBridge's pattern language ($or, suffix, anything-but,
// numeric, exists, wildcard, ...) is refused when the pattern is parsed, so
// a rule that needs more fails loudly at load instead of routing wrongly;
// then use quamina.net/go/quamina, which implements the whole language.
package pattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"path"
	"sort"
	"strings"
)

// Pattern is a compiled event pattern.
type Pattern struct{ root object }

// object is one level of a pattern: every field must match.
type object []field

type field struct {
	name   string
	sub    object // a nested object, or
	leaves []leaf // a list of values, any of which may match
	isObj  bool
}

// leaf is an exact value (value, as decoded JSON with json.Number) or a
// prefix.
type leaf struct {
	value    any
	prefix   string
	isPrefix bool
}

// Parse compiles a JSON event pattern, naming the first malformed or
// unsupported part in its error.
func Parse(data []byte) (*Pattern, error) {
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("event pattern: must be a JSON object")
	}
	o, err := compile(raw, "")
	if err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	return &Pattern{root: o}, nil
}

// FromMap compiles a pattern given as data (events.Rule.Pattern).
func FromMap(p map[string]any) (*Pattern, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	return Parse(b)
}

// Must is FromMap for a pattern known to be valid, in tests; it panics if
// the pattern is not.
func Must(p map[string]any) *Pattern {
	c, err := FromMap(p)
	if err != nil {
		panic(err)
	}
	return c
}

func compile(raw map[string]any, at string) (object, error) {
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	o := make(object, 0, len(raw))
	for _, k := range names {
		where := path.Join(at, k)
		switch v := raw[k].(type) {
		case map[string]any:
			sub, err := compile(v, where)
			if err != nil {
				return nil, err
			}
			o = append(o, field{name: k, sub: sub, isObj: true})
		case []any:
			if strings.HasPrefix(k, "$") {
				return nil, fmt.Errorf("%s: unsupported (only exact values, prefix and nested objects)", where)
			}
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: empty array matches nothing", where)
			}
			f := field{name: k}
			for _, el := range v {
				l, err := compileLeaf(el, where)
				if err != nil {
					return nil, err
				}
				f.leaves = append(f.leaves, l)
			}
			o = append(o, f)
		default:
			return nil, fmt.Errorf("%s: values must be arrays or objects, got %T", where, v)
		}
	}
	return o, nil
}

func compileLeaf(el any, at string) (leaf, error) {
	switch v := el.(type) {
	case string, bool, nil:
		return leaf{value: v}, nil
	case json.Number:
		if _, ok := new(big.Float).SetString(v.String()); !ok {
			return leaf{}, fmt.Errorf("%s: bad number %s", at, v)
		}
		return leaf{value: v}, nil
	case map[string]any:
		if len(v) != 1 {
			return leaf{}, fmt.Errorf("%s: a matcher object has exactly one operator, got %d", at, len(v))
		}
		for op, arg := range v {
			if op != "prefix" {
				return leaf{}, fmt.Errorf("%s: operator %q is not supported (only exact values, prefix and nested objects)", at, op)
			}
			s, ok := arg.(string)
			if !ok {
				return leaf{}, fmt.Errorf("%s: prefix needs a string, got %T", at, arg)
			}
			return leaf{prefix: s, isPrefix: true}, nil
		}
	}
	return leaf{}, fmt.Errorf("%s: unsupported value %v", at, el)
}

// Match reports whether the JSON event matches.
func (p *Pattern) Match(event []byte) (bool, error) {
	var ev any
	dec := json.NewDecoder(bytes.NewReader(event))
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

func (o object) match(obj map[string]any) bool {
	for _, f := range o {
		v, present := obj[f.name]
		if !present {
			return false
		}
		if f.isObj {
			sub, ok := v.(map[string]any)
			if !ok || !f.sub.match(sub) {
				return false
			}
			continue
		}
		if !f.matchValue(v) {
			return false
		}
	}
	return true
}

// matchValue: a value matches if any leaf matches it, and an array in the
// event matches if any of its elements does.
func (f field) matchValue(v any) bool {
	if arr, ok := v.([]any); ok {
		for _, el := range arr {
			if f.matchValue(el) {
				return true
			}
		}
		return false
	}
	for _, l := range f.leaves {
		if l.match(v) {
			return true
		}
	}
	return false
}

func (l leaf) match(v any) bool {
	if l.isPrefix {
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, l.prefix)
	}
	switch want := l.value.(type) {
	case nil:
		return v == nil
	case json.Number:
		return sameNumber(want, v)
	default: // string or bool
		return v == want
	}
}

// sameNumber compares numbers by value (EventBridge: 300 matches 300.0 and
// 3e2), exactly.
func sameNumber(want json.Number, v any) bool {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case float64:
		s = fmt.Sprint(x)
	default:
		return false
	}
	a, ok1 := new(big.Float).SetString(want.String())
	b, ok2 := new(big.Float).SetString(s)
	return ok1 && ok2 && a.Cmp(b) == 0
}
