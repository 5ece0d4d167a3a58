// Package dict provides the lookup tables ("type:name") that Postfix access
// lists may refer to, with Postfix 3.7's syntax, lookup semantics and
// diagnostics: inline, static, fail, cidr, texthash, regexp, pcre and
// environ.
//
// A type that Postfix knows but this package does not implement (hash,
// btree, ldap, ...) and any unknown type behave like a type missing from
// Postfix: opening it logs "unsupported dictionary type: TYPE" and yields a
// surrogate table whose every lookup fails, so an access list that reaches
// it reports a lookup error.
package dict

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Flags describe how a table matches keys.
type Flags uint

// Table flags (Postfix's DICT_FLAG_FIXED and DICT_FLAG_PATTERN).
const (
	// Fixed: keys are fixed strings, so an access list also looks up
	// the parent domains of a host name.
	Fixed Flags = 1 << iota
	// Pattern: keys are patterns; an access list looks up only the full
	// host name.
	Pattern
)

// Table is an open lookup table.
type Table interface {
	// Type returns the table type, e.g. "cidr".
	Type() string
	// Name returns the table name, e.g. "/etc/postfix/clients.cidr".
	Name() string
	// Flags tells whether keys are fixed strings or patterns.
	Flags() Flags
	// Lookup returns the value stored for key. found is false when there
	// is none. A non-nil error means the lookup itself failed (Postfix's
	// DICT_ERR_RETRY); the table has then already reported why.
	Lookup(key string) (value string, found bool, err error)
}

// ErrLookup is returned (wrapped) by tables whose lookups fail.
var ErrLookup = errors.New("table lookup failed")

// Opener opens a table of one type. name is the part after "type:". A
// returned error makes the Registry substitute a surrogate table whose
// lookups fail; its text is Postfix's reason (e.g. "open /x: No such file
// or directory").
type Opener func(r *Registry, name string) (Table, error)

// Registry opens tables by "type:name" and shares each open table between
// all users, as Postfix's dict_handle/dict_register do. It is safe for
// concurrent use once opened tables are only looked up.
type Registry struct {
	// Warn receives warnings in Postfix's words (without "warning: ").
	Warn func(text string)
	// Error receives error-level messages in Postfix's words (without
	// "error: "); nil sends them to Warn.
	Error func(text string)
	// LookupEnv serves environ: tables; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)

	mu      sync.Mutex
	tables  map[string]Table
	openers map[string]Opener
}

// NewRegistry returns a Registry that knows the built-in table types.
func NewRegistry(warn func(text string)) *Registry {
	r := &Registry{Warn: warn, tables: map[string]Table{}}
	r.openers = map[string]Opener{
		"inline":   openInline,
		"static":   openStatic,
		"fail":     openFail,
		"cidr":     openCIDR,
		"texthash": openTexthash,
		"regexp":   openRegexp,
		"pcre":     openPCRE,
		"environ":  openEnviron,
	}
	return r
}

// Register adds or replaces the opener for a table type.
func (r *Registry) Register(typ string, open Opener) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.openers[typ] = open
}

// Types returns the supported table types in sorted order.
func (r *Registry) Types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for t := range r.openers {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func (r *Registry) warnf(format string, args ...any) {
	if r != nil && r.Warn != nil {
		r.Warn(fmt.Sprintf(format, args...))
	}
}

func (r *Registry) errorf(format string, args ...any) {
	if r == nil {
		return
	}
	if r.Error != nil {
		r.Error(fmt.Sprintf(format, args...))
	} else if r.Warn != nil {
		r.Warn(fmt.Sprintf(format, args...))
	}
}

// Open returns the table for spec ("type:name"), opening it on first use.
// The only errors are those Postfix treats as fatal, e.g. `open dictionary:
// expecting "type:name" form instead of "::1"`. A table that cannot be
// opened (unknown type, missing file, bad syntax) is reported through Error
// and replaced by a surrogate whose lookups fail with a warning.
func (r *Registry) Open(spec string) (Table, error) {
	typ, name, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, fmt.Errorf("open dictionary: expecting \"type:name\" form instead of \"%s\"", spec)
	}
	if typ == "" || name == "" {
		return nil, fmt.Errorf("open dictionary: expecting \"type:name\" form instead of \"%s:%s\"", typ, name)
	}
	r.mu.Lock()
	if t, ok := r.tables[spec]; ok {
		r.mu.Unlock()
		return t, nil
	}
	open := r.openers[typ]
	r.mu.Unlock()
	var t Table
	var err error
	if open == nil {
		err = fmt.Errorf("unsupported dictionary type: %s", typ)
	} else {
		t, err = open(r, name)
	}
	if err != nil {
		r.errorf("%s", err.Error())
		t = &surrogate{typ: typ, name: name, reason: err.Error(), reg: r}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.tables[spec]; ok {
		return old, nil
	}
	r.tables[spec] = t
	return t, nil
}

// Surrogate returns a table whose every lookup fails, logging
// "TYPE:NAME is unavailable. REASON", like Postfix's dict_surrogate. It
// logs reason through Error now, as Postfix does when the problem is found.
func (r *Registry) Surrogate(typ, name, reason string) Table {
	r.errorf("%s", reason)
	return &surrogate{typ: typ, name: name, reason: reason, reg: r}
}

// surrogate stands in for a table that could not be opened.
type surrogate struct {
	typ, name, reason string
	reg               *Registry
}

func (s *surrogate) Type() string { return s.typ }
func (s *surrogate) Name() string { return s.name }
func (s *surrogate) Flags() Flags { return Pattern }
func (s *surrogate) Lookup(string) (string, bool, error) {
	s.reg.warnf("%s:%s is unavailable. %s", s.typ, s.name, s.reason)
	return "", false, fmt.Errorf("%s:%s: %w", s.typ, s.name, ErrLookup)
}

// fail is Postfix's fail:name table: every lookup fails.
type failTable struct{ name string }

func openFail(_ *Registry, name string) (Table, error) { return &failTable{name: name}, nil }

func (f *failTable) Type() string { return "fail" }
func (f *failTable) Name() string { return f.name }
func (f *failTable) Flags() Flags { return Pattern }
func (f *failTable) Lookup(string) (string, bool, error) {
	return "", false, fmt.Errorf("fail:%s: %w", f.name, ErrLookup)
}
