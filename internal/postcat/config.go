package postcat

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// settings are the main.cf parameters postcat uses.
type settings struct {
	queueDir       string
	hashQueueNames string
	hashQueueDepth int
	tz             string // TZ after import_environment
	// smtputf8 is smtputf8_enable: it decides whether diagnostics keep
	// UTF-8 text or replace every non-ASCII byte.
	smtputf8 bool
}

// Built-in defaults of the parameters postcat reads (postconf -d).
var defaults = map[string]string{
	"queue_directory":    "/var/spool/postfix",
	"hash_queue_names":   "deferred, defer",
	"hash_queue_depth":   "1",
	"import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME",
	"config_directory":   "/etc/postfix",
}

// loadConfig reads configDir/main.cf: a missing file is fatal, as in
// Postfix.
func loadConfig(configDir string, env func(string) string) (settings, error) {
	path := configDir + "/main.cf"
	f, err := os.Open(path)
	if err != nil {
		return settings{}, fatalf("open %s: %s", path, queuefile.Strerror(err))
	}
	defer f.Close()
	params := map[string]string{"config_directory": configDir}
	var name, value string
	have := false
	commit := func() {
		if have {
			params[name] = strings.TrimRight(value, " \t\r\n")
		}
		have = false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " \t\r")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if have {
				value += " " + strings.TrimSpace(line)
			}
			continue
		}
		commit()
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			continue
		}
		name = strings.TrimSpace(line[:eq])
		value = strings.TrimSpace(line[eq+1:])
		have = true
	}
	commit()
	if err := sc.Err(); err != nil {
		return settings{}, fatalf("read %s: %s", path, queuefile.Strerror(err))
	}
	get := func(n string) string { return expand(n, params, 0) }

	s := settings{
		queueDir:       get("queue_directory"),
		hashQueueNames: get("hash_queue_names"),
		tz:             env("TZ"),
	}
	if v, ok := params["smtputf8_enable"]; ok {
		s.smtputf8 = strings.EqualFold(expand("smtputf8_enable", params, 0), "yes") && v != ""
	} else {
		// The default is "no" below compatibility level 1.
		level := get("compatibility_level")
		s.smtputf8 = level != "" && level != "0"
	}
	depth := get("hash_queue_depth")
	d, err := strconv.Atoi(depth)
	if err != nil {
		return settings{}, fatalf("bad numerical configuration: hash_queue_depth = %s", depth)
	}
	if d < 1 {
		return settings{}, fatalf("invalid hash_queue_depth parameter value %d < 1", d)
	}
	s.hashQueueDepth = d
	for _, item := range strings.FieldsFunc(get("import_environment"), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}) {
		if n, v, ok := strings.Cut(item, "="); ok && n == "TZ" {
			s.tz = v
		}
	}
	s.queueDir = filepath.Clean(s.queueDir)
	return s, nil
}

// expand resolves $name and ${name} references in a parameter value.
func expand(name string, params map[string]string, depth int) string {
	v, ok := params[name]
	if !ok {
		v = defaults[name]
	}
	if depth > 20 || !strings.Contains(v, "$") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '$' || i+1 >= len(v) {
			b.WriteByte(v[i])
			continue
		}
		j := i + 1
		var ref string
		switch {
		case v[j] == '{' || v[j] == '(':
			closer := byte('}')
			if v[j] == '(' {
				closer = ')'
			}
			k := strings.IndexByte(v[j:], closer)
			if k < 0 {
				b.WriteString(v[i:])
				return b.String()
			}
			ref = v[j+1 : j+k]
			i = j + k
		default:
			k := j
			for k < len(v) && (v[k] == '_' || v[k] >= 'a' && v[k] <= 'z' || v[k] >= 'A' && v[k] <= 'Z' || v[k] >= '0' && v[k] <= '9') {
				k++
			}
			ref = v[j:k]
			i = k - 1
		}
		b.WriteString(expand(ref, params, depth+1))
	}
	return b.String()
}
