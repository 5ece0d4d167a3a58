package maincf

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// The global parameters every Postfix program evaluates at start-up
// (Postfix's mail_params_init), in Postfix's order, with their limits:
// minimum and maximum string length, or minimum and maximum value (0 = no
// limit; times in seconds).
type strLimit struct {
	name     string
	min, max int
}

type numLimit struct {
	name     string
	min, max int64
}

var (
	globalFirstStrs = []strLimit{
		{"mail_version", 1, 0}, {"syslog_facility", 1, 0}, {"inet_protocols", 0, 0},
		{"multi_instance_directories", 0, 0}, {"multi_instance_group", 0, 0},
		{"multi_instance_name", 0, 0}, {"maillog_file", 0, 0}, {"maillog_file_prefixes", 1, 0},
		{"maillog_file_compressor", 1, 0}, {"maillog_file_rotate_suffix", 1, 0},
		{"postlog_service_name", 1, 0}, {"dnssec_probe", 0, 0}, {"known_tcp_ports", 0, 0},
	}
	// The first booleans (daemon_table_open_error_is_fatal and
	// dns_ncache_ttl_fix_enable), then the ones Postfix reads as "nbool"
	// (same syntax).
	globalFirstBools = []string{
		"daemon_table_open_error_is_fatal", "dns_ncache_ttl_fix_enable",
		"smtputf8_enable", "enable_idna2003_compatibility", "respectful_logging",
	}
	globalOtherStrs = []strLimit{
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
	globalInts = []numLimit{
		{"default_process_limit", 1, 0}, {"max_use", 1, 0}, {"dont_remove", 0, 0},
		{"line_length_limit", 512, 0}, {"hash_queue_depth", 1, 0}, {"fork_attempts", 1, 0},
		{"deliver_lock_attempts", 1, 0}, {"debug_peer_level", 1, 0}, {"fault_injection_code", 0, 0},
		{"berkeley_db_create_buffer_size", 1, 0}, {"berkeley_db_read_buffer_size", 1, 0},
		{"header_size_limit", 1, 0}, {"header_address_token_limit", 1, 0},
		{"mime_nesting_limit", 1, 0}, {"mime_boundary_length_limit", 1, 0},
		{"delay_logging_resolution_limit", 0, 6}, {"tcp_windowsize", 0, 0},
	}
	globalLongs = []numLimit{{"message_size_limit", 0, 0}, {"lmdb_map_size", 1, 0}}
	globalBools = []string{
		"disable_dns_lookups", "soft_bounce", "owner_request_special", "strict_8bitmime",
		"strict_7bit_headers", "strict_8bitmime_body", "strict_mime_encoding_domain",
		"disable_mime_input_processing", "disable_mime_output_conversion",
		"address_verify_negative_cache", "backwards_bounce_logfile_compatibility",
		"helpful_warnings", "send_cyrus_sasl_authzid", "multi_instance_enable",
		"enable_long_queue_ids", "strict_smtputf8", "enable_original_recipient",
	}
	globalTimes = []numLimit{
		{"application_event_drain_time", 1, 0}, {"max_idle", 1, 0}, {"ipc_timeout", 1, 0},
		{"ipc_idle", 1, 0}, {"ipc_ttl", 1, 0}, {"trigger_timeout", 1, 0}, {"fork_delay", 1, 0},
		{"deliver_lock_delay", 1, 0}, {"stale_lock_time", 1, 0}, {"daemon_timeout", 1, 0},
		{"in_flow_delay", 0, 10},
	}
)

// CheckGlobals runs the start-up checks that every Postfix program applies
// to the global parameters of main.cf (Postfix's mail_params_init): string
// lengths, numbers, booleans and times against their limits,
// compatibility_level, syslog_facility, known_tcp_ports (warnings only),
// inet_protocols, myhostname and mydomain, the mail_owner, default_privs
// and setgid_group accounts, mynetworks and inet_interfaces, relayhost
// against myhostname, myorigin and the VERP delimiters, in Postfix's order.
// The error is the first problem in Postfix's words (the text after
// "fatal: "); warnings go to Options.Warn. Host names and accounts come
// from Options.Host.
func (c *Config) CheckGlobals() error {
	settings := c.dict
	if _, ok := c.dict.Lookup("process_id"); ok {
		// Postfix enters process_id only after these checks: until then
		// $process_id is empty.
		settings = NewDict()
		for _, name := range c.dict.Names() {
			if name != "process_id" {
				v, _ := c.dict.Lookup(name)
				settings.Set(name, v)
			}
		}
	}
	return CheckGlobalSettings(settings, c.dir, c.host, c.warn)
}

// CheckGlobalSettings is CheckGlobals for a bare dictionary of settings
// (main.cf plus overrides, unexpanded) read from configDir, for programs
// that keep their own copy of main.cf (postconf). settings is not
// modified; warn may be nil.
func CheckGlobalSettings(settings *Dict, configDir string, host Host, warn func(string)) (err error) {
	g := &globalsEval{
		dict: map[string]string{"config_directory": configDir},
		file: configDir + "/main.cf",
		host: host,
		warn: warn,
	}
	for _, name := range settings.Names() {
		v, _ := settings.Lookup(name)
		g.dict[name] = v
	}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(globalsFailure)
			if !ok {
				panic(r)
			}
			err = f.err
		}
	}()
	g.run()
	return nil
}

// globalsFailure carries the first problem out of the evaluation.
type globalsFailure struct{ err error }

// globalsEval evaluates parameters the way Postfix's start-up does: a
// parameter set in main.cf is its value expanded against the dictionary;
// one that is not set gets its default, expanded likewise, and that result
// is entered into the dictionary, so that later parameters see it. Names
// not in the dictionary expand to nothing.
type globalsEval struct {
	dict map[string]string
	file string // "DIR/main.cf" for messages
	host Host
	warn func(string)
}

func (g *globalsEval) fail(err error) { panic(globalsFailure{err}) }

func (g *globalsEval) failf(format string, args ...any) {
	g.fail(fmt.Errorf(format, args...))
}

func (g *globalsEval) warnf(format string, args ...any) {
	if g.warn != nil {
		g.warn(fmt.Sprintf(format, args...))
	}
}

func (g *globalsEval) run() {
	level := g.str("compatibility_level", 0, 0)
	if _, err := ParseCompatLevel(level); err != nil {
		g.fail(err)
	}
	for _, s := range globalFirstStrs {
		g.str(s.name, s.min, s.max)
	}
	if facility := g.value("syslog_facility"); !knownFacility(facility) {
		g.failf("file %s: parameter syslog_facility: unrecognized value: %s", g.file, facility)
	}
	utf8 := false
	for _, name := range globalFirstBools {
		if v := g.bool(name); name == "smtputf8_enable" {
			utf8 = v
		}
	}
	checkKnownTCPPorts(g.value("known_tcp_ports"), g.warnf)
	protocols := g.value("inet_protocols")
	for _, word := range strings.FieldsFunc(protocols, isListSep) {
		if word != "ipv4" && word != "ipv6" && word != "all" {
			g.failf("unknown inet_protocols value \"%s\" in \"%s\"", word, protocols)
		}
	}
	g.myhostname()
	myhostname := g.value("myhostname")
	if _, ok := g.dict["mydomain"]; ok {
		g.str("mydomain", 1, 0)
	} else {
		g.dict["mydomain"] = ComputeMydomain(myhostname)
	}
	for _, name := range []string{"myhostname", "mydomain"} {
		if v := g.value(name); !ValidHostname(v, g.warn) {
			g.failf("file %s: parameter %s: bad parameter value: %s", g.file, name, v)
		}
	}
	for _, s := range globalOtherStrs {
		g.str(s.name, s.min, s.max)
	}
	for _, n := range globalInts {
		if _, err := ParseInt(n.name, g.value(n.name), int(n.min), int(n.max)); err != nil {
			g.fail(err)
		}
	}
	for _, n := range globalLongs {
		if _, err := ParseLong(n.name, g.value(n.name), n.min, n.max); err != nil {
			g.fail(err)
		}
	}
	for _, name := range globalBools {
		g.bool(name)
	}
	for _, n := range globalTimes {
		g.time(n.name, n.min, n.max)
	}
	g.accounts()
	g.networks(protocols)
	// Postfix compares with Unicode case folding only when SMTPUTF8 is on.
	if relayhost := g.value("relayhost"); utf8 && strings.EqualFold(myhostname, relayhost) || asciiEqualFold(myhostname, relayhost) {
		g.failf("myhostname and relayhost parameter settings must not be identical: %s", myhostname)
	}
	if origin := g.value("myorigin"); strings.ContainsAny(origin, ", \t\r\n") {
		g.failf("myorigin parameter setting must not contain multiple values: %s", origin)
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
		g.failf("file %s: parameters default_verp_delimiters and verp_delimiter_filter: %s", g.file, why)
	}
}

// myhostname works out myhostname when main.cf does not set it: the
// machine's name (which must itself be a valid host name), completed with
// $mydomain or "localdomain" when it has no dot.
func (g *globalsEval) myhostname() {
	if _, ok := g.dict["myhostname"]; ok {
		g.str("myhostname", 1, 0)
		return
	}
	hostname := g.host.Hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	name, err := hostname()
	if err != nil {
		g.failf("gethostname: %s", syserr.Text(err))
	}
	if !ValidHostname(name, g.warn) {
		g.failf("unable to use my own hostname")
	}
	domain, ok := g.dict["mydomain"]
	if ok {
		domain = g.expand(domain)
	}
	g.dict["myhostname"] = ComputeMyhostname(name, domain)
}

// accounts checks default_privs, mail_owner and setgid_group, and that
// they do not share IDs.
func (g *globalsEval) accounts() {
	defUID, defGID := g.user("default_privs")
	ownerUID, ownerGID := g.user("mail_owner")
	owner := g.value("mail_owner")
	if name, err := g.host.userName(ownerUID); err == nil && name != owner {
		g.failf("file %s: parameter mail_owner: user %s has same user ID as %s", g.file, owner, name)
	}
	sgid := g.group("setgid_group")
	privs, group := g.value("default_privs"), g.value("setgid_group")
	switch {
	case privs == owner:
		g.failf("file %s: parameters default_privs and mail_owner specify the same user %s", g.file, privs)
	case defUID == ownerUID:
		g.failf("file %s: parameters default_privs and mail_owner: users %s and %s have the same user ID: %d", g.file, privs, owner, ownerUID)
	case defGID == ownerGID:
		g.failf("file %s: parameters default_privs and mail_owner: users %s and %s have the same group ID: %d", g.file, privs, owner, ownerGID)
	case defGID == sgid:
		g.failf("file %s: parameters default_privs and setgid_group: user %s and group %s have the same group ID: %d", g.file, privs, group, sgid)
	case ownerGID == sgid:
		g.failf("file %s: parameters mail_owner and setgid_group: user %s and group %s have the same group ID: %d", g.file, owner, group, sgid)
	}
}

// networks works out mynetworks when main.cf does not set it, and checks
// inet_interfaces (every named address must be a local interface) either
// way, as Postfix looks up its own addresses at start-up.
func (g *globalsEval) networks(protocols string) {
	interfaces := g.value("inet_interfaces")
	if _, ok := g.dict["mynetworks"]; ok {
		g.str("mynetworks", 0, 0)
		if _, err := ComputeMynetworks("host", protocols, interfaces, g.host); err != nil {
			g.fail(err)
		}
		return
	}
	v, err := ComputeMynetworks(g.value("mynetworks_style"), protocols, interfaces, g.host)
	if err != nil {
		g.fail(err)
	}
	g.dict["mynetworks"] = v
}

// expand expands value against the dictionary alone.
func (g *globalsEval) expand(value string) string {
	e := Expander{
		Lookup: func(n string, _ LookupMode) (string, bool) {
			v, ok := g.dict[n]
			return v, ok
		},
		Warn: g.warn,
	}
	out, err := e.Expand(value)
	if err != nil {
		var me *MacroError
		if errors.As(err, &me) {
			me.Dict = ConfigDictName
		}
		g.fail(err)
	}
	return out
}

// value evaluates name: its setting, or its default entered into the
// dictionary, expanded.
func (g *globalsEval) value(name string) string {
	raw, ok := g.dict[name]
	if !ok {
		raw, _ = BuiltinDefault(name)
	}
	v := raw
	if !IsRaw(name) {
		v = g.expand(raw)
	}
	if !ok {
		g.dict[name] = v
	}
	return v
}

func (g *globalsEval) str(name string, min, max int) string {
	v := g.value(name)
	if min != 0 && len(v) < min {
		g.failf("bad string length %d < %d: %s = %s", len(v), min, name, v)
	}
	if max != 0 && len(v) > max {
		g.failf("bad string length %d > %d: %s = %s", len(v), max, name, v)
	}
	return v
}

func (g *globalsEval) bool(name string) bool {
	v, err := ParseBool(name, g.value(name))
	if err != nil {
		g.fail(err)
	}
	return v
}

// asciiEqualFold compares like strcasecmp(): only ASCII letters fold.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	lower := func(c byte) byte {
		if c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func (g *globalsEval) time(name string, min, max int64) {
	def, _ := BuiltinDefault(name)
	unit := DefaultTimeUnit(g.expand(def))
	if _, err := ParseTime(name, g.value(name), unit, time.Duration(min)*time.Second, time.Duration(max)*time.Second); err != nil {
		g.fail(err)
	}
}

// user looks up the account named by parameter param: it must exist and
// have neither user ID 0 nor group ID 0.
func (g *globalsEval) user(param string) (uid, gid int) {
	name := g.value(param)
	uid, gid, err := g.host.lookupUser(name)
	if err != nil {
		g.failf("file %s: parameter %s: unknown user name value: %s", g.file, param, name)
	}
	if uid == 0 {
		g.failf("file %s: parameter %s: user %s has privileged user ID", g.file, param, name)
	}
	if gid == 0 {
		g.failf("file %s: parameter %s: user %s has privileged group ID", g.file, param, name)
	}
	return uid, gid
}

// group looks up the group named by parameter param: it must exist, not
// be group 0, and be the first name of its group ID.
func (g *globalsEval) group(param string) int {
	name := g.value(param)
	gid, err := g.host.lookupGroup(name)
	if err != nil {
		g.failf("file %s: parameter %s: unknown group name: %s", g.file, param, name)
	}
	if gid == 0 {
		g.failf("file %s: parameter %s: group %s has privileged group ID", g.file, param, name)
	}
	if other, err := g.host.groupName(gid); err == nil && other != name {
		g.failf("file %s: parameter %s: group %s has same group ID as %s", g.file, param, name, other)
	}
	return gid
}

func (h Host) lookupUser(name string) (uid, gid int, err error) {
	if h.LookupUser != nil {
		return h.LookupUser(name)
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("user %s: %w", name, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("user %s: %w", name, err)
	}
	return uid, gid, nil
}

func (h Host) userName(uid int) (string, error) {
	if h.UserName != nil {
		return h.UserName(uid)
	}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

func (h Host) lookupGroup(name string) (int, error) {
	if h.LookupGroup != nil {
		return h.LookupGroup(name)
	}
	gr, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	gid, err := strconv.Atoi(gr.Gid)
	if err != nil {
		return 0, fmt.Errorf("group %s: %w", name, err)
	}
	return gid, nil
}

func (h Host) groupName(gid int) (string, error) {
	if h.GroupName != nil {
		return h.GroupName(gid)
	}
	gr, err := user.LookupGroupId(strconv.Itoa(gid))
	if err != nil {
		return "", err
	}
	return gr.Name, nil
}

// knownFacility tells whether Postfix on Linux knows a syslog_facility
// value (the logger has the table).
func knownFacility(name string) bool {
	_, ok := maillog.Facility(name)
	return ok
}

// ValidHostname checks a host name like Postfix's valid_hostname() (see
// HostnameProblem). When the name is not valid it reports why to warn
// (Postfix's "valid_hostname: ..." warning) and returns false.
func ValidHostname(name string, warn func(string)) bool {
	problem := HostnameProblem(name)
	if problem != "" && warn != nil {
		warn("valid_hostname: " + problem)
	}
	return problem == ""
}

// HostnameProblem applies Postfix's valid_hostname() rules: labels of
// letters, digits, '_' and inner hyphens, at most 63 characters each,
// separated by single dots, not all numeric, 255 characters at most. It
// returns Postfix's complaint (without the "valid_hostname: " prefix), or ""
// for a good name.
func HostnameProblem(name string) string {
	const maxLabel, maxName = 63, 255
	if name == "" {
		return "empty hostname"
	}
	short := name
	if len(short) > 100 {
		short = short[:100]
	}
	labelLen, nonNumeric := 0, false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_':
			labelLen++
			if labelLen > maxLabel {
				return "hostname label too long: " + short
			}
			if c < '0' || c > '9' {
				nonNumeric = true
			}
		case c == '.':
			if labelLen == 0 || i+1 == len(name) {
				return "misplaced delimiter: " + short
			}
			labelLen = 0
		case c == '-':
			nonNumeric = true
			labelLen++
			if labelLen == 1 || i+1 == len(name) || name[i+1] == '.' {
				return "misplaced hyphen: " + short
			}
		default:
			return fmt.Sprintf("invalid character %d(decimal): %s", c, short)
		}
	}
	if !nonNumeric {
		return "numeric hostname: " + short
	}
	if len(name) > maxName {
		return fmt.Sprintf("bad length %d for %s...", len(name), short)
	}
	return ""
}

// checkKnownTCPPorts checks known_tcp_ports ("name = port" associations
// separated by commas, "name1 = name2 = port" allowed) like Postfix: each
// problem is a warning about that association, and checking goes on.
func checkKnownTCPPorts(settings string, warnf func(format string, args ...any)) {
	allDigits := func(s string) bool {
		return s != "" && strings.Trim(s, "0123456789") == ""
	}
	blank := func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }
	seen := map[string]bool{}
	for _, assoc := range strings.Split(settings, ",") {
		if assoc == "" {
			continue
		}
		parts := strings.Split(" "+assoc+" ", "=")
		if len(parts) == 1 {
			warnf("known_tcp_ports: in \"%s\" is not in \"name = value\" form", assoc)
			continue
		}
		var problem string
		port := strings.FieldsFunc(parts[len(parts)-1], blank)
		switch {
		case len(port) == 0:
			problem = "missing port value after \"=\""
		case len(port) > 1:
			problem = "whitespace in port number"
		default:
			for _, part := range parts[:len(parts)-1] {
				name := strings.FieldsFunc(part, blank)
				var p string
				switch {
				case len(name) == 0:
					p = "missing service name before \"=\""
				case len(name) > 1:
					p = "whitespace in service name"
				case allDigits(name[0]):
					p = "numerical service name"
				case !allDigits(port[0]):
					p = "non-numerical service port"
				case seen[name[0]]:
					p = "duplicate service name"
				default:
					seen[name[0]] = true
				}
				if problem == "" {
					problem = p
				}
			}
		}
		if problem != "" {
			warnf("known_tcp_ports: in \"%s\": %s", assoc, problem)
		}
	}
}
