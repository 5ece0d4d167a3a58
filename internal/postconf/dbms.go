package postconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// dbmsSuffixes lists, for each database client type that can be
// configured with legacy main.cf parameters (type:prefix with
// prefix_suffix = value), the suffixes its client reads. They come from
// the configuration names that Postfix's ldap, mysql, pgsql, sqlite and
// memcache clients look up.
var dbmsSuffixes = []struct {
	dbType   string
	suffixes []string
}{
	{"ldap", []string{"bind", "bind_dn", "bind_pw", "cache", "cache_expiry", "cache_size",
		"chase_referrals", "debuglevel", "dereference", "domain", "expansion_limit",
		"leaf_result_attribute", "query_filter", "recursion_limit", "result_attribute",
		"result_filter", "result_format", "sasl_authz_id", "sasl_mechs", "sasl_minssf",
		"sasl_realm", "scope", "search_base", "server_host", "server_port", "size_limit",
		"special_result_attribute", "start_tls", "terminal_result_attribute", "timeout",
		"tls_ca_cert_dir", "tls_ca_cert_file", "tls_cert", "tls_cipher_suite", "tls_key",
		"tls_random_file", "tls_require_cert", "version"}},
	{"mysql", []string{"additional_conditions", "dbname", "domain", "expansion_limit",
		"hosts", "option_file", "option_group", "password", "query", "require_result_set",
		"result_format", "select_field", "table", "tls_CAfile", "tls_CApath",
		"tls_cert_file", "tls_ciphers", "tls_key_file", "tls_verify_cert", "user",
		"where_field"}},
	{"pgsql", []string{"additional_conditions", "dbname", "domain", "expansion_limit",
		"hosts", "password", "query", "result_format", "select_field", "select_function",
		"table", "user", "where_field"}},
	{"sqlite", []string{"additional_conditions", "dbpath", "domain", "expansion_limit",
		"query", "result_format", "select_field", "table", "where_field"}},
	{"memcache", []string{"backup", "data_size_limit", "domain", "flags", "key_format",
		"line_size_limit", "max_try", "memcache", "retry_pause", "timeout", "ttl"}},
}

func dbmsInfo(dbType string) []string {
	for _, d := range dbmsSuffixes {
		if d.dbType == dbType {
			return d.suffixes
		}
	}
	return nil
}

// registerDBMSParameters looks in the expanded value of a built-in or
// service parameter for database references: "type:prefix" validates the
// legacy parameters prefix_suffix, and "type:/file" has its client
// configuration file checked for unknown settings.
func (p *program) registerDBMSParameters(value string, local *masterEnt) {
	p.dbmsHelper(p.expandValue(modeShowEval, value, local), local)
}

// splitQuotedTokens splits s on commas and white space, keeping balanced
// {...} groups together.
func splitQuotedTokens(s string) []string {
	var out []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(", \t\r\n", s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return out
		}
		start, level := i, 0
		for ; i < len(s); i++ {
			ch := s[i]
			if ch == '{' {
				level++
			} else if level > 0 && ch == '}' {
				level--
			} else if level == 0 && strings.IndexByte(", \t\r\n", ch) >= 0 {
				break
			}
		}
		out = append(out, s[start:i])
	}
}

// unbrace removes the outer braces of "{text}" without trimming, and
// returns the complaint about unbalanced text, if any.
func unbrace(s string) (string, string) {
	n := 0
	level := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '{' {
			level++
		} else if s[i] == '}' {
			level--
			if level == 0 {
				n = i + 1
				break
			}
		}
	}
	switch {
	case n == 0:
		return s[1:], fmt.Sprintf("missing '}' in \"%s\"", s)
	case n != len(s):
		return s[1 : n-1], fmt.Sprintf("syntax error after '}' in \"%s\"", s)
	}
	return s[1 : n-1], ""
}

func (p *program) dbmsWarn(local *masterEnt, complaint string) {
	if local != nil {
		p.warnf("%s:%s: %s", masterFile, local.nameSpace, complaint)
	} else {
		p.warnf("%s: %s", mainFile, complaint)
	}
}

func (p *program) dbmsHelper(s string, local *masterEnt) {
	for _, tok := range splitQuotedTokens(s) {
		if tok[0] == '{' {
			inner, complaint := unbrace(tok)
			if complaint != "" {
				p.dbmsWarn(local, complaint)
			}
			p.dbmsHelper(inner, local)
			continue
		}
		dbType, prefix, found := strings.Cut(tok, ":")
		for found && dbType == "proxy" {
			dbType, prefix, found = strings.Cut(prefix, ":")
		}
		if !found {
			continue
		}
		if strings.HasPrefix(prefix, "/") {
			if suffixes := dbmsInfo(dbType); suffixes != nil {
				p.checkDBMSClient(dbType, prefix, suffixes)
			}
			continue
		}
		if strings.HasPrefix(prefix, ".") {
			continue
		}
		if strings.HasPrefix(prefix, "{") {
			inner, complaint := unbrace(prefix)
			if complaint != "" {
				p.dbmsWarn(local, complaint)
			}
			p.dbmsHelper(inner, local)
			continue
		}
		for _, suffix := range dbmsInfo(dbType) {
			p.flagUserParameter(prefix+"_"+suffix, flagDBMS|flagUser, local)
		}
	}
}

// checkDBMSClient reads a database client configuration file once and
// warns about settings its client does not know.
func (p *program) checkDBMSClient(dbType, file string, suffixes []string) {
	spec := dbType + ":" + file
	if p.dbmsSeen == nil {
		p.dbmsSeen = map[string]bool{}
	}
	if p.dbmsSeen[spec] {
		return
	}
	p.dbmsSeen[spec] = true
	f, err := os.Open(file)
	if err != nil {
		if !errors.Is(err, fs.ErrPermission) {
			p.warnf("open \"%s\" configuration \"%s\": %s", dbType, file, syserr.Text(err))
		}
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		p.warnf("open \"%s\" configuration \"%s\": not a regular file", dbType, file)
		return
	}
	data, err := readAll(f)
	if err != nil {
		p.warnf("read \"%s\" configuration \"%s\": %s", dbType, file, syserr.Text(err))
		return
	}
	d := newDict()
	for _, ll := range maincf.ReadLogicalLines(file, data, p.warn) {
		name, value, err := maincf.SplitNameValue(ll.Text)
		if err != nil {
			panic(fatalf("%s, line %d: %s: \"%s\"", file, ll.Line, err, cString(ll.Text)))
		}
		if old, ok := d.get(name); ok && old != value {
			p.warnf("%s, line %d: overriding earlier entry: %s=%s", file, ll.Line, name, old)
		}
		d.set(name, value)
	}
	for _, s := range suffixes {
		d.del(s)
	}
	for _, name := range d.keys() {
		value, _ := d.get(name)
		p.warnf("%s: unused parameter: %s=%s", spec, name, value)
	}
}
