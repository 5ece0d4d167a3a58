package dict

import (
	"fmt"
	"unicode/utf8"
)

// mapTable is a fixed-key table held in memory (inline, texthash).
type mapTable struct {
	typ, name string
	m         map[string]string
}

func (t *mapTable) Type() string { return t.typ }
func (t *mapTable) Name() string { return t.name }
func (t *mapTable) Flags() Flags { return Fixed }
func (t *mapTable) Lookup(key string) (string, bool, error) {
	v, ok := t.m[key]
	return v, ok, nil
}

// openInline parses "inline:{key=value, {key = value with spaces}, ...}".
// Keys are stored as written: an access list folds the string it looks up
// to lower case, so a key with upper-case letters never matches there, as
// in Postfix.
func openInline(_ *Registry, name string) (Table, error) {
	if !utf8.ValidString(name) {
		return nil, fmt.Errorf("bad UTF-8 syntax: \"inline:%s\"; need \"inline:{name=value...}\"", name)
	}
	n := balpar(name)
	if n == 0 || n != len(name) || n == 2 {
		return nil, fmt.Errorf("bad syntax: \"inline:%s\"; need \"inline:{name=value...}\"", name)
	}
	t := &mapTable{typ: "inline", name: name, m: map[string]string{}}
	rest := name[1 : n-1]
	var errText string
	for {
		item, r, ok := NextToken(rest, Separators)
		if !ok {
			break
		}
		rest = r
		if item[0] == '{' {
			item, errText = extpar(item)
			if errText != "" {
				break
			}
		}
		k, v, e := splitQNameVal(item)
		if e != "" {
			errText = e
			break
		}
		t.m[k] = v
	}
	if errText == "" && len(t.m) == 0 {
		errText = "empty table"
	}
	if errText != "" {
		return nil, fmt.Errorf("%s: \"inline:%s\"; need \"inline:{name=value...}\"", errText, name)
	}
	return t, nil
}

// staticTable returns the same value for every key.
type staticTable struct{ name, value string }

func (t *staticTable) Type() string                        { return "static" }
func (t *staticTable) Name() string                        { return t.name }
func (t *staticTable) Flags() Flags                        { return Fixed }
func (t *staticTable) Lookup(string) (string, bool, error) { return t.value, true, nil }

// openStatic handles "static:value" and "static:{value with spaces}".
func openStatic(_ *Registry, name string) (Table, error) {
	value := name
	if name[0] == '{' {
		v, e := extpar(name)
		if e != "" {
			return nil, fmt.Errorf("bad static:name syntax: %s", e)
		}
		value = v
	}
	return &staticTable{name: name, value: value}, nil
}
