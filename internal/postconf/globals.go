package postconf

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/maincf"
)

// Global parameter tables that every Postfix program loads when it reads
// main.cf (Postfix's mail_params_init), in Postfix's order, with the
// minimum and maximum string lengths or numeric values (0 = no limit).
type strParam struct {
	name     string
	min, max int
}

type numParam struct {
	name     string
	min, max int64
}

var (
	firstStrParams = []strParam{
		{"mail_version", 1, 0}, {"syslog_facility", 1, 0}, {"inet_protocols", 0, 0},
		{"multi_instance_directories", 0, 0}, {"multi_instance_group", 0, 0},
		{"multi_instance_name", 0, 0}, {"maillog_file", 0, 0}, {"maillog_file_prefixes", 1, 0},
		{"maillog_file_compressor", 1, 0}, {"maillog_file_rotate_suffix", 1, 0},
		{"postlog_service_name", 1, 0}, {"dnssec_probe", 0, 0}, {"known_tcp_ports", 0, 0},
	}
	firstBoolParams  = []string{"daemon_table_open_error_is_fatal", "dns_ncache_ttl_fix_enable"}
	firstNBoolParams = []string{"smtputf8_enable", "enable_idna2003_compatibility", "respectful_logging"}
	otherStrParams   = []strParam{
		{"mail_name", 1, 0}, {"syslog_name", 1, 0}, {"mail_owner", 1, 0}, {"setgid_group", 1, 0},
		{"mydestination", 0, 0}, {"myorigin", 1, 0}, {"relayhost", 0, 0},
		{"daemon_directory", 1, 0}, {"data_directory", 1, 0}, {"command_directory", 1, 0},
		{"meta_directory", 1, 0}, {"queue_directory", 1, 0}, {"shlib_directory", 1, 0},
		{"process_id_directory", 1, 0}, {"inet_interfaces", 0, 0}, {"proxy_interfaces", 0, 0},
		{"double_bounce_sender", 1, 0}, {"default_privs", 1, 0}, {"alias_database", 0, 0},
		{"mail_release_date", 1, 0}, {"default_database_type", 1, 0}, {"hash_queue_names", 1, 0},
		{"recipient_delimiter", 0, 0}, {"relay_domains", 0, 0}, {"fast_flush_domains", 0, 0},
		{"export_environment", 0, 0}, {"import_environment", 0, 0}, {"mynetworks_style", 1, 0},
		{"debug_peer_list", 0, 0}, {"default_verp_delimiters", 2, 2}, {"verp_delimiter_filter", 1, 0},
		{"parent_domain_matches_subdomains", 0, 0}, {"alternate_config_directories", 0, 0},
		{"bounce_service_name", 1, 0}, {"cleanup_service_name", 1, 0}, {"defer_service_name", 1, 0},
		{"pickup_service_name", 1, 0}, {"queue_service_name", 1, 0}, {"rewrite_service_name", 1, 0},
		{"showq_service_name", 1, 0}, {"error_service_name", 1, 0}, {"flush_service_name", 1, 0},
		{"address_verify_service_name", 1, 0}, {"trace_service_name", 1, 0},
		{"proxymap_service_name", 1, 0}, {"proxywrite_service_name", 1, 0},
		{"internal_mail_filter_classes", 0, 0}, {"multi_instance_wrapper", 0, 0},
		{"default_delivery_status_filter", 0, 0}, {"smtputf8_autodetect_classes", 1, 0},
		{"message_drop_headers", 0, 0}, {"info_log_address_format", 1, 0},
	}
	intParams = []numParam{
		{"default_process_limit", 1, 0}, {"max_use", 1, 0}, {"dont_remove", 0, 0},
		{"line_length_limit", 512, 0}, {"hash_queue_depth", 1, 0}, {"fork_attempts", 1, 0},
		{"deliver_lock_attempts", 1, 0}, {"debug_peer_level", 1, 0}, {"fault_injection_code", 0, 0},
		{"berkeley_db_create_buffer_size", 1, 0}, {"berkeley_db_read_buffer_size", 1, 0},
		{"header_size_limit", 1, 0}, {"header_address_token_limit", 1, 0},
		{"mime_nesting_limit", 1, 0}, {"mime_boundary_length_limit", 1, 0},
		{"delay_logging_resolution_limit", 0, 6}, {"tcp_windowsize", 0, 0},
	}
	longParams = []numParam{{"message_size_limit", 0, 0}, {"lmdb_map_size", 1, 0}}
	boolParams = []string{
		"disable_dns_lookups", "soft_bounce", "owner_request_special", "strict_8bitmime",
		"strict_7bit_headers", "strict_8bitmime_body", "strict_mime_encoding_domain",
		"disable_mime_input_processing", "disable_mime_output_conversion",
		"address_verify_negative_cache", "backwards_bounce_logfile_compatibility",
		"helpful_warnings", "send_cyrus_sasl_authzid", "multi_instance_enable",
		"enable_long_queue_ids", "strict_smtputf8", "enable_original_recipient",
	}
	timeParams = []numParam{
		{"application_event_drain_time", 1, 0}, {"max_idle", 1, 0}, {"ipc_timeout", 1, 0},
		{"ipc_idle", 1, 0}, {"ipc_ttl", 1, 0}, {"trigger_timeout", 1, 0}, {"fork_delay", 1, 0},
		{"deliver_lock_delay", 1, 0}, {"stale_lock_time", 1, 0}, {"daemon_timeout", 1, 0},
		{"in_flow_delay", 0, 10},
	}
)

// globals evaluates the global parameters the way Postfix's mail_params_init
// does: a parameter's value is its main.cf setting expanded against the
// main.cf dictionary, or its default expanded likewise; either way the
// result is then stored in the dictionary, so that later parameters see it.
type globals struct {
	p    *program
	dict *dict
	file string // "DIR/main.cf" for messages
}

// checkGlobals runs Postfix's start-up checks of the global parameters
// (postconf -m needs them, as it opens tables like any Postfix program). The
// first problem is fatal, in Postfix's words.
func (p *program) checkGlobals() {
	g := &globals{p: p, dict: newDict(), file: p.configDir + "/" + mainFile}
	for _, name := range p.mainDict().keys() {
		v, _ := p.main.get(name)
		g.dict.set(name, v)
	}
	level := g.str("compatibility_level", 0, 0)
	if _, err := maincf.ParseCompatLevel(level); err != nil {
		p.fatal(err)
	}
	for _, s := range firstStrParams {
		g.str(s.name, s.min, s.max)
	}
	if facility := g.value("syslog_facility"); !knownFacility(facility) {
		panic(fatalf("file %s: parameter syslog_facility: unrecognized value: %s", g.file, facility))
	}
	for _, name := range firstBoolParams {
		g.bool(name)
	}
	for _, name := range firstNBoolParams {
		g.bool(name)
	}
	p.checkKnownTCPPorts(g.value("known_tcp_ports"))
	protocols := g.value("inet_protocols")
	for _, word := range strings.FieldsFunc(protocols, isCommaSpace) {
		if word != "ipv4" && word != "ipv6" && word != "all" {
			panic(fatalf("unknown inet_protocols value \"%s\" in \"%s\"", word, protocols))
		}
	}
	// myhostname and mydomain: computed when not set.
	if _, ok := g.dict.get("myhostname"); ok {
		g.str("myhostname", 1, 0)
	} else {
		host, err := os.Hostname()
		if err != nil || host == "" {
			panic(fatalf("gethostname: %s", maincf.Strerror(err)))
		}
		domain, ok := g.dict.get("mydomain")
		if ok {
			domain = g.expand(domain)
		}
		g.dict.set("myhostname", maincf.ComputeMyhostname(host, domain))
	}
	myhostname := g.value("myhostname")
	if _, ok := g.dict.get("mydomain"); ok {
		g.str("mydomain", 1, 0)
	} else {
		g.dict.set("mydomain", maincf.ComputeMydomain(myhostname))
	}
	for _, name := range []string{"myhostname", "mydomain"} {
		if v := g.value(name); !p.validHostname(v) {
			panic(fatalf("file %s: parameter %s: bad parameter value: %s", g.file, name, v))
		}
	}
	for _, s := range otherStrParams {
		g.str(s.name, s.min, s.max)
	}
	for _, n := range intParams {
		g.int(n.name, n.min, n.max, 32)
	}
	for _, n := range longParams {
		g.int(n.name, n.min, n.max, 64)
	}
	for _, name := range boolParams {
		g.bool(name)
	}
	for _, n := range timeParams {
		g.time(n.name, n.min, n.max)
	}
	defUID, defGID := g.user("default_privs")
	ownerUID, ownerGID := g.user("mail_owner")
	if u, err := user.LookupId(strconv.Itoa(ownerUID)); err == nil && u.Username != g.value("mail_owner") {
		panic(fatalf("file %s: parameter mail_owner: user %s has same user ID as %s", g.file, g.value("mail_owner"), u.Username))
	}
	sgid := g.group("setgid_group")
	privs, owner, group := g.value("default_privs"), g.value("mail_owner"), g.value("setgid_group")
	switch {
	case privs == owner:
		panic(fatalf("file %s: parameters default_privs and mail_owner specify the same user %s", g.file, privs))
	case defUID == ownerUID:
		panic(fatalf("file %s: parameters default_privs and mail_owner: users %s and %s have the same user ID: %d", g.file, privs, owner, ownerUID))
	case defGID == ownerGID:
		panic(fatalf("file %s: parameters default_privs and mail_owner: users %s and %s have the same group ID: %d", g.file, privs, owner, ownerGID))
	case defGID == sgid:
		panic(fatalf("file %s: parameters default_privs and setgid_group: user %s and group %s have the same group ID: %d", g.file, privs, group, sgid))
	case ownerGID == sgid:
		panic(fatalf("file %s: parameters mail_owner and setgid_group: user %s and group %s have the same group ID: %d", g.file, owner, group, sgid))
	}
	if _, ok := g.dict.get("mynetworks"); ok {
		g.str("mynetworks", 0, 0)
	} else {
		p.computedDefault("mynetworks")
	}
	if strings.EqualFold(myhostname, g.value("relayhost")) {
		panic(fatalf("myhostname and relayhost parameter settings must not be identical: %s", myhostname))
	}
	if origin := g.value("myorigin"); strings.ContainsAny(origin, ", \t\r\n") {
		panic(fatalf("myorigin parameter setting must not contain multiple values: %s", origin))
	}
	delims, filter := g.value("default_verp_delimiters"), g.value("verp_delimiter_filter")
	var why string
	switch {
	case len(delims) != 2:
		why = "bad VERP delimiter character count"
	case strings.IndexByte(filter, delims[0]) < 0:
		why = "bad first VERP delimiter character"
	case strings.IndexByte(filter, delims[1]) < 0:
		why = "bad second VERP delimiter character"
	}
	if why != "" {
		panic(fatalf("file %s: parameters default_verp_delimiters and verp_delimiter_filter: %s", g.file, why))
	}
}

// expand expands value against the dictionary alone; unknown names are
// empty. A syntax error is fatal, as in Postfix's dictionary evaluation.
func (g *globals) expand(value string) string {
	e := maincf.Expander{
		Lookup: func(n string, _ maincf.LookupMode) (string, bool) { return g.dict.get(n) },
		Warn:   g.p.warn,
	}
	out, err := e.Expand(value)
	if err != nil {
		var me *maincf.MacroError
		if errors.As(err, &me) {
			panic(fatalf("dictionary %s: macro processing error", maincf.ConfigDictName))
		}
		g.p.fatal(err)
	}
	return out
}

// value loads name: its setting or its default, expanded, stored back.
func (g *globals) value(name string) string {
	raw, ok := g.dict.get(name)
	if !ok {
		raw, _ = maincf.BuiltinDefault(name)
	}
	v := raw
	if !maincf.IsRaw(name) {
		v = g.expand(raw)
	}
	g.dict.set(name, v)
	return v
}

func (g *globals) str(name string, min, max int) string {
	v := g.value(name)
	if min != 0 && len(v) < min {
		panic(fatalf("bad string length %d < %d: %s = %s", len(v), min, name, v))
	}
	if max != 0 && len(v) > max {
		panic(fatalf("bad string length %d > %d: %s = %s", len(v), max, name, v))
	}
	return v
}

func (g *globals) bool(name string) {
	if _, err := maincf.ParseBool(name, g.value(name)); err != nil {
		g.p.fatal(err)
	}
}

func (g *globals) int(name string, min, max int64, bits int) {
	var err error
	if bits == 32 {
		_, err = maincf.ParseInt(name, g.value(name), int(min), int(max))
	} else {
		_, err = maincf.ParseLong(name, g.value(name), min, max)
	}
	if err != nil {
		g.p.fatal(err)
	}
}

func (g *globals) time(name string, min, max int64) {
	def, _ := maincf.BuiltinDefault(name)
	unit := maincf.DefaultTimeUnit(g.expand(def))
	if _, err := maincf.ParseTime(name, g.value(name), unit, time.Duration(min)*time.Second, time.Duration(max)*time.Second); err != nil {
		g.p.fatal(err)
	}
}

// user looks up the account named by parameter name; it must exist and
// have neither user ID 0 nor group ID 0.
func (g *globals) user(param string) (uid, gid int) {
	name := g.value(param)
	u, err := user.Lookup(name)
	if err != nil {
		panic(fatalf("file %s: parameter %s: unknown user name value: %s", g.file, param, name))
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if uid == 0 {
		panic(fatalf("file %s: parameter %s: user %s has privileged user ID", g.file, param, name))
	}
	if gid == 0 {
		panic(fatalf("file %s: parameter %s: user %s has privileged group ID", g.file, param, name))
	}
	return uid, gid
}

// group looks up the group named by parameter name; it must exist, not be
// group 0, and be the first name of its group ID.
func (g *globals) group(param string) int {
	name := g.value(param)
	gr, err := user.LookupGroup(name)
	if err != nil {
		panic(fatalf("file %s: parameter %s: unknown group name: %s", g.file, param, name))
	}
	gid, _ := strconv.Atoi(gr.Gid)
	if gid == 0 {
		panic(fatalf("file %s: parameter %s: group %s has privileged group ID", g.file, param, name))
	}
	if other, err := user.LookupGroupId(gr.Gid); err == nil && other.Name != name {
		panic(fatalf("file %s: parameter %s: group %s has same group ID as %s", g.file, param, name, other.Name))
	}
	return gid
}

// validHostname checks a host name like Postfix's valid_hostname(),
// printing its warning when the name is not valid.
func (p *program) validHostname(name string) bool {
	const maxLabel, maxName = 63, 255
	gripe := func(format string, args ...any) bool {
		p.warn(fmt.Sprintf(format, args...))
		return false
	}
	short := name
	if len(short) > 100 {
		short = short[:100]
	}
	if name == "" {
		return gripe("valid_hostname: empty hostname")
	}
	label, nonNumeric := 0, false
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch {
		case ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_':
			label++
			if label > maxLabel {
				return gripe("valid_hostname: hostname label too long: %s", short)
			}
			if ch < '0' || ch > '9' {
				nonNumeric = true
			}
		case ch == '.':
			if label == 0 || i+1 == len(name) {
				return gripe("valid_hostname: misplaced delimiter: %s", short)
			}
			label = 0
		case ch == '-':
			nonNumeric = true
			label++
			if label == 1 || i+1 == len(name) || name[i+1] == '.' {
				return gripe("valid_hostname: misplaced hyphen: %s", short)
			}
		default:
			return gripe("valid_hostname: invalid character %d(decimal): %s", ch, short)
		}
	}
	if !nonNumeric {
		return gripe("valid_hostname: numeric hostname: %s", short)
	}
	if len(name) > maxName {
		return gripe("valid_hostname: bad length %d for %s...", len(name), short)
	}
	return true
}

// checkKnownTCPPorts checks known_tcp_ports ("name = port" associations
// separated by commas, with "name1 = name2 = port" allowed) like Postfix:
// every problem is a warning about that association, and checking goes on.
func (p *program) checkKnownTCPPorts(settings string) {
	allDigits := func(s string) bool {
		return s != "" && strings.Trim(s, "0123456789") == ""
	}
	seen := map[string]bool{}
	for _, assoc := range strings.Split(settings, ",") {
		if assoc == "" {
			continue
		}
		parts := strings.Split(" "+assoc+" ", "=")
		if len(parts) == 1 {
			p.warnf("known_tcp_ports: in \"%s\" is not in \"name = value\" form", assoc)
			continue
		}
		var err string
		port := strings.FieldsFunc(parts[len(parts)-1], isBlank)
		switch {
		case len(port) == 0:
			err = "missing port value after \"=\""
		case len(port) > 1:
			err = "whitespace in port number"
		default:
			for _, part := range parts[:len(parts)-1] {
				name := strings.FieldsFunc(part, isBlank)
				var e string
				switch {
				case len(name) == 0:
					e = "missing service name before \"=\""
				case len(name) > 1:
					e = "whitespace in service name"
				case allDigits(name[0]):
					e = "numerical service name"
				case !allDigits(port[0]):
					e = "non-numerical service port"
				case seen[name[0]]:
					e = "duplicate service name"
				default:
					seen[name[0]] = true
				}
				if err == "" {
					err = e
				}
			}
		}
		if err != "" {
			p.warnf("known_tcp_ports: in \"%s\": %s", assoc, err)
		}
	}
}

// isBlank reports whether r is white space in Postfix's sense
// (CHARS_SPACE).
func isBlank(r rune) bool { return strings.ContainsRune(" \t\r\n", r) }

// knownFacility tells whether Postfix on Linux knows a syslog_facility
// value (the daemons' logger has the table).
func knownFacility(name string) bool {
	_, ok := maillog.Facility(name)
	return ok
}
