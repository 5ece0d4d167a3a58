package maincf

import (
	"sort"
)

//go:generate go run ./internal/gen -postconf /usr/sbin/postconf -o builtin_gen.go

// builtinParam is one row of the generated built-in parameter table.
type builtinParam struct {
	name     string
	def      string // default as postconf -d prints it (empty when computed)
	computed bool   // default worked out at run time (myhostname, ...)
}

// Class says where a parameter comes from, like postconf's parameter
// classes.
type Class int

const (
	// ClassBuiltin is a parameter built into Postfix.
	ClassBuiltin Class = 1 << iota
	// ClassService is a per-service parameter derived from a master.cf
	// entry (e.g. relay_destination_concurrency_limit).
	ClassService
	// ClassUser is a user-defined parameter, valid only when it is both set
	// and referenced.
	ClassUser
	// ClassLegacy is a parameter that postconf lists only when it is set.
	ClassLegacy
)

// String returns postconf's name for the class ("builtin", "service",
// "user", "legacy").
func (c Class) String() string {
	switch c {
	case ClassBuiltin:
		return "builtin"
	case ClassService:
		return "service"
	case ClassUser:
		return "user"
	case ClassLegacy:
		return "legacy"
	}
	return "unknown"
}

// rawParams are never $name-expanded (postconf -x prints them raw too):
// the parameters of Postfix's "raw" tables. (postscreen_use_tls and the
// other postscreen booleans whose defaults are $smtpd_... are expanded.)
var rawParams = map[string]bool{
	"default_rbl_reply":           true,
	"command_execution_directory": true,
	"forward_path":                true,
	"luser_relay":                 true,
	"mailbox_command":             true,
	"postscreen_expansion_filter": true,
	"postscreen_reject_footer":    true,
	"smtpd_expansion_filter":      true,
	"smtpd_reject_footer":         true,
}

// readOnlyParams are set by the program itself; assignments are ignored.
var readOnlyParams = map[string]bool{
	"process_id":   true,
	"process_name": true,
	"service_name": true,
}

// legacyParams are old names that postconf still knows but shows only when
// they are set (all have an empty default).
var legacyParams = []string{
	"authorized_verp_clients",
	"fallback_relay",
	"lmtp_per_record_deadline",
	"postscreen_blacklist_action",
	"postscreen_dnsbl_ttl",
	"postscreen_dnsbl_whitelist_threshold",
	"postscreen_whitelist_interfaces",
	"smtp_per_record_deadline",
	"smtpd_client_connection_limit_exceptions",
	"smtpd_per_record_deadline",
	"tlsproxy_client_level",
	"tlsproxy_client_policy",
	"virtual_maps",
}

// IsRaw reports whether name is a parameter whose value is never expanded.
func IsRaw(name string) bool { return rawParams[name] }

// RawParams returns the names of the never-expanded parameters, sorted.
func RawParams() []string { return sortedKeys(rawParams) }

// IsReadOnly reports whether name is read-only (process_id, process_name,
// service_name).
func IsReadOnly(name string) bool { return readOnlyParams[name] }

// IsLegacy reports whether name is a legacy parameter.
func IsLegacy(name string) bool {
	i := sort.SearchStrings(legacyParams, name)
	return i < len(legacyParams) && legacyParams[i] == name
}

// LegacyParams returns the legacy parameter names, sorted.
func LegacyParams() []string { return append([]string(nil), legacyParams...) }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// projectParams are the parameters this project adds to Postfix's: our
// postconf knows them like built-in parameters (postconf NAME, -d and -n
// show them without an "unknown parameter" or "unused parameter" warning).
// Sorted by name.
var projectParams = [...]builtinParam{
	// Where qmqpd sends messages: "service" (Postfix's cleanup(8)) or
	// "builtin" (our own cleanup); empty means service under master(8) and
	// builtin when qmqpd runs standalone.
	{"qmqpd_cleanup_mode", "", false},
}

// findPostfix returns the generated table row for name.
func findPostfix(name string) (builtinParam, bool) {
	i := sort.Search(len(builtinTable), func(i int) bool { return builtinTable[i].name >= name })
	if i < len(builtinTable) && builtinTable[i].name == name {
		return builtinTable[i], true
	}
	return builtinParam{}, false
}

// findBuiltin returns the table row for name: a parameter of Postfix or
// one of the project's own.
func findBuiltin(name string) (builtinParam, bool) {
	if p, ok := findPostfix(name); ok {
		return p, true
	}
	for _, p := range projectParams {
		if p.name == name {
			return p, true
		}
	}
	return builtinParam{}, false
}

// IsBuiltin reports whether name is a built-in parameter of Postfix (the
// project's own parameters are not; see IsProjectParam).
func IsBuiltin(name string) bool {
	_, ok := findPostfix(name)
	return ok
}

// IsProjectParam reports whether name is a parameter that this project
// adds to Postfix's (qmqpd_cleanup_mode).
func IsProjectParam(name string) bool {
	for _, p := range projectParams {
		if p.name == name {
			return true
		}
	}
	return false
}

// ProjectParams returns the names of the project's own parameters, sorted.
// Their defaults are available through BuiltinDefault.
func ProjectParams() []string {
	out := make([]string, len(projectParams))
	for i, p := range projectParams {
		out[i] = p.name
	}
	return out
}

// BuiltinNames returns the names of all built-in parameters, sorted.
func BuiltinNames() []string {
	out := make([]string, len(builtinTable))
	for i, p := range builtinTable {
		out[i] = p.name
	}
	return out
}

// IsComputedDefault reports whether the default of name is worked out at
// run time (myhostname, mydomain, mynetworks, process_id, process_name).
func IsComputedDefault(name string) bool {
	p, ok := findBuiltin(name)
	return ok && p.computed
}

// BuiltinDefault returns the raw default of a built-in parameter (of
// Postfix or of the project) whose default is fixed (as postconf -d prints
// it; expressions such as "${{$compatibility_level} <level {1} ? {no} :
// {yes}}" are returned as written). For computed defaults use Defaults.
func BuiltinDefault(name string) (string, bool) {
	p, ok := findBuiltin(name)
	if !ok || p.computed {
		return "", false
	}
	return p.def, true
}

// Service parameter suffixes: delivery transports get all of
// transportSuffixes, pipe also gets "_time_limit", spawn only that.
var transportSuffixes = []struct{ suffix, def string }{
	{"_recipient_limit", "default_recipient_limit"},
	{"_extra_recipient_limit", "default_extra_recipient_limit"},
	{"_recipient_refill_limit", "default_recipient_refill_limit"},
	{"_recipient_refill_delay", "default_recipient_refill_delay"},
	{"_delivery_slot_cost", "default_delivery_slot_cost"},
	{"_delivery_slot_loan", "default_delivery_slot_loan"},
	{"_delivery_slot_discount", "default_delivery_slot_discount"},
	{"_minimum_delivery_slots", "default_minimum_delivery_slots"},
	{"_initial_destination_concurrency", "initial_destination_concurrency"},
	{"_destination_concurrency_limit", "default_destination_concurrency_limit"},
	{"_destination_recipient_limit", "default_destination_recipient_limit"},
	{"_destination_concurrency_positive_feedback", "default_destination_concurrency_positive_feedback"},
	{"_destination_concurrency_negative_feedback", "default_destination_concurrency_negative_feedback"},
	{"_destination_concurrency_failed_cohort_limit", "default_destination_concurrency_failed_cohort_limit"},
	{"_destination_rate_delay", "default_destination_rate_delay"},
	{"_transport_rate_delay", "default_transport_rate_delay"},
}

// ServiceParam is a per-service parameter that a master.cf entry defines.
type ServiceParam struct {
	Name    string // e.g. "relay_destination_concurrency_limit"
	Default string // e.g. "$default_destination_concurrency_limit"
	Builtin bool   // the name is also a built-in with its own default (local_destination_*)
}

// ServiceParams returns the per-service parameters that the master.cf
// entries define, in master.cf order: for services whose command is local,
// error, virtual, smtp or lmtp the 16 transport parameters, for pipe those
// plus NAME_time_limit, and for spawn only NAME_time_limit. A name that is
// also built-in keeps its built-in default (Builtin is set) but counts as a
// service parameter. Each name is listed once.
func ServiceParams(entries []MasterEntry) []ServiceParam {
	var out []ServiceParam
	seen := map[string]bool{}
	add := func(name, defParam string) {
		if seen[name] {
			return
		}
		seen[name] = true
		if def, ok := BuiltinDefault(name); ok {
			out = append(out, ServiceParam{Name: name, Default: def, Builtin: true})
			return
		}
		out = append(out, ServiceParam{Name: name, Default: "$" + defParam})
	}
	for _, e := range entries {
		switch e.Command {
		case "local", "error", "virtual", "smtp", "lmtp", "pipe":
			if e.Command == "pipe" {
				add(e.Service+"_time_limit", "command_time_limit")
			}
			for _, s := range transportSuffixes {
				add(e.Service+s.suffix, s.def)
			}
		case "spawn":
			add(e.Service+"_time_limit", "command_time_limit")
		}
	}
	return out
}
