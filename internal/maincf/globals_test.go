package maincf

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeHost is a machine with a fixed name, two interfaces and a small
// account database:
//
//	users:  postfix 100/101, nobody 65534/65534, root 0/0, toor 100/101
//	        (shares postfix's user ID), rootgrp 5/0, samegid 200/101,
//	        nogid 300/102
//	groups: postdrop 102, root 0, wheel2 102 (shares postdrop's ID),
//	        nogroup 65534, mailgrp 101
func fakeHost(hostname string) Host {
	type account struct{ uid, gid int }
	users := map[string]account{
		"postfix": {100, 101}, "nobody": {65534, 65534}, "root": {0, 0},
		"toor": {100, 101}, "rootgrp": {5, 0}, "samegid": {200, 101}, "nogid": {300, 102},
	}
	userByID := map[int]string{100: "postfix", 65534: "nobody", 0: "root", 5: "rootgrp", 200: "samegid", 300: "nogid"}
	groups := map[string]int{"postdrop": 102, "root": 0, "wheel2": 102, "nogroup": 65534, "mailgrp": 101}
	groupByID := map[int]string{102: "postdrop", 0: "root", 65534: "nogroup", 101: "mailgrp"}
	notFound := errors.New("not found")
	return Host{
		Hostname: func() (string, error) {
			if hostname == "" {
				return "", syscall.ENAMETOOLONG
			}
			return hostname, nil
		},
		Interfaces: func() ([]netip.Prefix, error) {
			return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("192.168.1.10/24")}, nil
		},
		PID: func() int { return 42 },
		LookupUser: func(name string) (int, int, error) {
			a, ok := users[name]
			if !ok {
				return 0, 0, notFound
			}
			return a.uid, a.gid, nil
		},
		UserName: func(uid int) (string, error) {
			if n, ok := userByID[uid]; ok {
				return n, nil
			}
			return "", notFound
		},
		LookupGroup: func(name string) (int, error) {
			if g, ok := groups[name]; ok {
				return g, nil
			}
			return 0, notFound
		},
		GroupName: func(gid int) (string, error) {
			if n, ok := groupByID[gid]; ok {
				return n, nil
			}
			return "", notFound
		},
	}
}

// checkGlobalsOn writes mainCF into a fresh directory, loads it with host
// and runs CheckGlobals; it returns the directory, the error text ("" for
// none) and the warnings.
func checkGlobalsOn(t *testing.T, mainCF string, host Host) (dir, errText string, warnings []string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	warn := func(s string) { warnings = append(warnings, s) }
	c, err := Load(Options{ConfigDir: dir, Warn: warn, Host: host, ProcessName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckGlobals(); err != nil {
		errText = err.Error()
	}
	return dir, errText, warnings
}

func TestCheckGlobals(t *testing.T) {
	t.Parallel()
	// In want and warnings, DIR stands for the configuration directory.
	for _, tc := range []struct {
		name, mainCF, want string
		warnings           []string
	}{
		{name: "empty", mainCF: ""},
		{name: "all-set", mainCF: "myhostname = mail.example.org\nmydomain = example.org\nmynetworks = 10.0.0.0/8\n" +
			"compatibility_level = 3.6\nline_length_limit = 512\nipc_timeout = 1h\n"},
		{name: "compat", mainCF: "compatibility_level = x\nsyslog_facility = bogus\n",
			want: `malformed compatibility level syntax: "x"`},
		{name: "compat-expanded", mainCF: "compatibility_level = ${level}\nlevel = 3.x\n",
			want: `malformed compatibility level syntax: "3.x"`},
		{name: "first-string", mainCF: "maillog_file_prefixes =\n",
			want: "bad string length 0 < 1: maillog_file_prefixes = "},
		{name: "facility", mainCF: "syslog_facility = bogus\nsmtputf8_enable = maybe\n",
			want: "file DIR/main.cf: parameter syslog_facility: unrecognized value: bogus"},
		{name: "facility-case", mainCF: "syslog_facility = MAIL\n",
			want: "file DIR/main.cf: parameter syslog_facility: unrecognized value: MAIL"},
		{name: "first-bool", mainCF: "smtputf8_enable = maybe\ninet_protocols = ipx\n",
			want: "bad boolean configuration: smtputf8_enable = maybe"},
		{name: "known-ports", mainCF: "known_tcp_ports = a, 25=x, smtp=1 2\n",
			warnings: []string{
				`known_tcp_ports: in "a" is not in "name = value" form`,
				`known_tcp_ports: in " 25=x": numerical service name`,
				`known_tcp_ports: in " smtp=1 2": whitespace in port number`,
			}},
		{name: "protocols", mainCF: "inet_protocols = ipv4, ipx\nmyhostname = 1234\n",
			want: `unknown inet_protocols value "ipx" in "ipv4, ipx"`},
		{name: "myhostname", mainCF: "myhostname = bad_host!\n",
			want:     "file DIR/main.cf: parameter myhostname: bad parameter value: bad_host!",
			warnings: []string{"valid_hostname: invalid character 33(decimal): bad_host!"}},
		{name: "mydomain", mainCF: "mydomain = -x.com\n",
			want:     "file DIR/main.cf: parameter mydomain: bad parameter value: -x.com",
			warnings: []string{"valid_hostname: misplaced hyphen: -x.com"}},
		{name: "mydomain-only", mainCF: "mydomain = x..y\n",
			want:     "file DIR/main.cf: parameter mydomain: bad parameter value: x..y",
			warnings: []string{"valid_hostname: misplaced delimiter: x..y"}},
		{name: "other-string", mainCF: "mail_name =\nline_length_limit = 100\n",
			want: "bad string length 0 < 1: mail_name = "},
		{name: "undefined-expands-empty", mainCF: "mail_name = $not_a_param\n",
			want: "bad string length 0 < 1: mail_name = "},
		{name: "verp-length", mainCF: "default_verp_delimiters = xyz\n",
			want: "bad string length 3 > 2: default_verp_delimiters = xyz"},
		{name: "int-min", mainCF: "line_length_limit = 100\nsoft_bounce = maybe\n",
			want: "invalid line_length_limit parameter value 100 < 512"},
		{name: "int-max", mainCF: "delay_logging_resolution_limit = 7\n",
			want: "invalid delay_logging_resolution_limit parameter value 7 > 6"},
		{name: "int-syntax", mainCF: "default_process_limit = 10x\n",
			want: "bad numerical configuration: default_process_limit = 10x"},
		{name: "long", mainCF: "message_size_limit = 10k\n",
			want: "bad numerical configuration: message_size_limit = 10k"},
		{name: "bool", mainCF: "soft_bounce = maybe\nipc_timeout = 0\n",
			want: "bad boolean configuration: soft_bounce = maybe"},
		{name: "time-unit", mainCF: "ipc_timeout = 5x\n",
			want: "parameter ipc_timeout: bad time value or unit: 5x"},
		{name: "time-min", mainCF: "ipc_timeout = 0\n",
			want: "invalid ipc_timeout: 0 (min 1)"},
		{name: "time-max", mainCF: "in_flow_delay = 11\n",
			want: "invalid in_flow_delay: 11 (max 10)"},
		{name: "unknown-default-privs", mainCF: "default_privs = nosuch\nmail_owner = nosuch2\n",
			want: "file DIR/main.cf: parameter default_privs: unknown user name value: nosuch"},
		{name: "unknown-owner", mainCF: "mail_owner = nosuch\n",
			want: "file DIR/main.cf: parameter mail_owner: unknown user name value: nosuch"},
		{name: "owner-root", mainCF: "mail_owner = root\n",
			want: "file DIR/main.cf: parameter mail_owner: user root has privileged user ID"},
		{name: "privs-root-group", mainCF: "default_privs = rootgrp\n",
			want: "file DIR/main.cf: parameter default_privs: user rootgrp has privileged group ID"},
		{name: "owner-shared-uid", mainCF: "mail_owner = toor\n",
			want: "file DIR/main.cf: parameter mail_owner: user toor has same user ID as postfix"},
		{name: "unknown-group", mainCF: "setgid_group = nosuch\n",
			want: "file DIR/main.cf: parameter setgid_group: unknown group name: nosuch"},
		{name: "group-root", mainCF: "setgid_group = root\n",
			want: "file DIR/main.cf: parameter setgid_group: group root has privileged group ID"},
		{name: "group-shared-gid", mainCF: "setgid_group = wheel2\n",
			want: "file DIR/main.cf: parameter setgid_group: group wheel2 has same group ID as postdrop"},
		{name: "same-user", mainCF: "default_privs = postfix\n",
			want: "file DIR/main.cf: parameters default_privs and mail_owner specify the same user postfix"},
		{name: "same-gid", mainCF: "default_privs = samegid\n",
			want: "file DIR/main.cf: parameters default_privs and mail_owner: users samegid and postfix have the same group ID: 101"},
		{name: "privs-sgid", mainCF: "default_privs = nogid\n",
			want: "file DIR/main.cf: parameters default_privs and setgid_group: user nogid and group postdrop have the same group ID: 102"},
		{name: "owner-sgid", mainCF: "setgid_group = mailgrp\n",
			want: "file DIR/main.cf: parameters mail_owner and setgid_group: user postfix and group mailgrp have the same group ID: 101"},
		{name: "mynetworks-style", mainCF: "mynetworks_style = bogus\n",
			want: `unknown mynetworks mask style value "bogus" in "bogus"`},
		{name: "mynetworks-style-no-protocols", mainCF: "mynetworks_style = bogus\ninet_protocols =\n"},
		{name: "interfaces", mainCF: "mynetworks = 10.0.0.0/8\ninet_interfaces = 192.0.2.1\n",
			want: "parameter inet_interfaces: no local interface found for 192.0.2.1"},
		{name: "interfaces-local", mainCF: "mynetworks = 10.0.0.0/8\ninet_interfaces = 192.168.1.10\n"},
		{name: "relayhost", mainCF: "relayhost = $myhostname\nmyhostname = A.b\n",
			want: "myhostname and relayhost parameter settings must not be identical: A.b"},
		{name: "relayhost-case", mainCF: "relayhost = HOST.example.COM\n",
			want: "myhostname and relayhost parameter settings must not be identical: host.example.com"},
		{name: "relayhost-unicode-fold", mainCF: "myhostname = s.example\nrelayhost = \u017f.example\nsmtputf8_enable = yes\n",
			want: "myhostname and relayhost parameter settings must not be identical: s.example"},
		{name: "relayhost-ascii-fold", mainCF: "myhostname = s.example\nrelayhost = \u017f.example\nsmtputf8_enable = no\n"},
		{name: "myorigin", mainCF: "myorigin = a, b\n",
			want: "myorigin parameter setting must not contain multiple values: a, b"},
		{name: "verp-first", mainCF: "default_verp_delimiters = !=\n",
			want: "file DIR/main.cf: parameters default_verp_delimiters and verp_delimiter_filter: bad first VERP delimiter character"},
		{name: "verp-second", mainCF: "default_verp_delimiters = +@\n",
			want: "file DIR/main.cf: parameters default_verp_delimiters and verp_delimiter_filter: bad second VERP delimiter character"},
		{name: "verp-filter", mainCF: "verp_delimiter_filter = +\n",
			want: "file DIR/main.cf: parameters default_verp_delimiters and verp_delimiter_filter: bad second VERP delimiter character"},
		{name: "macro-error", mainCF: "a = ${x\nmail_name = $a\n",
			want:     "dictionary mail_dict: macro processing error",
			warnings: []string{`truncated macro reference: "${x"`}},
		{name: "config-directory", mainCF: "mail_name = $config_directory\nmyorigin = $mail_name x\n",
			want: "myorigin parameter setting must not contain multiple values: DIR x"},
		{name: "process-id-not-yet", mainCF: "mail_name = $process_id\n",
			want: "bad string length 0 < 1: mail_name = "},
		// A default, once evaluated, is entered into the dictionary:
		// relayhost sees myorigin's default "$myhostname" expanded to
		// the computed host name.
		{name: "default-chain", mainCF: "relayhost = $myorigin\n",
			want: "myhostname and relayhost parameter settings must not be identical: host.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, got, warnings := checkGlobalsOn(t, tc.mainCF, fakeHost("host.example.com"))
			if want := strings.ReplaceAll(tc.want, "DIR", dir); got != want {
				t.Errorf("error %q, want %q", got, want)
			}
			if len(warnings) > 0 || len(tc.warnings) > 0 {
				if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
					t.Errorf("warnings (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCheckGlobalsHostname(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host, mainCF, want string
		warnings           []string
	}{
		{host: "", want: "gethostname: File name too long"},
		{host: "bad!name", want: "unable to use my own hostname",
			warnings: []string{"valid_hostname: invalid character 33(decimal): bad!name"}},
		{host: "bad!name", mainCF: "myhostname = ok.example\n"},
		{host: "short", mainCF: "mydomain = example.net\nrelayhost = short.example.net\n",
			want: "myhostname and relayhost parameter settings must not be identical: short.example.net"},
		{host: "short", mainCF: "mydomain = x..y\n",
			want:     "file DIR/main.cf: parameter myhostname: bad parameter value: short.x..y",
			warnings: []string{"valid_hostname: misplaced delimiter: short.x..y"}},
		{host: "short", mainCF: "relayhost = short.localdomain\n",
			want: "myhostname and relayhost parameter settings must not be identical: short.localdomain"},
	} {
		dir, got, warnings := checkGlobalsOn(t, tc.mainCF, fakeHost(tc.host))
		if want := strings.ReplaceAll(tc.want, "DIR", dir); got != want {
			t.Errorf("host %q, main.cf %q: error %q, want %q", tc.host, tc.mainCF, got, tc.want)
		}
		if len(warnings) > 0 || len(tc.warnings) > 0 {
			if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
				t.Errorf("host %q: warnings (-want +got):\n%s", tc.host, diff)
			}
		}
	}
}

// TestCheckGlobalSettingsLeavesDict: the caller's dictionary is not
// changed by the evaluation.
func TestCheckGlobalSettingsLeavesDict(t *testing.T) {
	t.Parallel()
	d := NewDict()
	d.Set("myorigin", "$mydomain")
	if err := CheckGlobalSettings(d, "/nonexistent", fakeHost("h.example"), nil); err != nil {
		t.Fatal(err)
	}
	if got := d.Names(); !cmp.Equal(got, []string{"myorigin"}) {
		t.Errorf("names after check: %q", got)
	}
}

func TestValidHostname(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name, warning string
	}{
		{"mail.example.org", ""},
		{"under_score.example", ""},
		{"", "valid_hostname: empty hostname"},
		{"1234", "valid_hostname: numeric hostname: 1234"},
		{"1.2.3.4", "valid_hostname: numeric hostname: 1.2.3.4"},
		{"a..b", "valid_hostname: misplaced delimiter: a..b"},
		{"a.", "valid_hostname: misplaced delimiter: a."},
		{".a", "valid_hostname: misplaced delimiter: .a"},
		{"-a.b", "valid_hostname: misplaced hyphen: -a.b"},
		{"a-.b", "valid_hostname: misplaced hyphen: a-.b"},
		{"a!b", "valid_hostname: invalid character 33(decimal): a!b"},
		{long + ".com", "valid_hostname: hostname label too long: " + long + ".com"},
		{strings.Repeat("a.", 128) + "b", "valid_hostname: bad length 257 for " + strings.Repeat("a.", 50) + "..."},
	} {
		var warnings []string
		ok := ValidHostname(tc.name, func(s string) { warnings = append(warnings, s) })
		var want []string
		if tc.warning != "" {
			want = []string{tc.warning}
		}
		if ok != (tc.warning == "") || !cmp.Equal(warnings, want) {
			t.Errorf("ValidHostname(%q) = %v, %q; want %q", tc.name, ok, warnings, want)
		}
	}
}

// BenchmarkCheckGlobals measures the start-up checks on an empty main.cf
// with the machine's own host name, interfaces and account database.
func BenchmarkCheckGlobals(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	c, err := Load(Options{ConfigDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := c.CheckGlobals(); err != nil {
			b.Skipf("this machine's defaults do not pass: %v", err)
		}
	}
}

// FuzzCheckGlobals runs the start-up checks on arbitrary main.cf text: they
// must not panic, must give the same answer twice, and must leave the
// settings alone.
func FuzzCheckGlobals(f *testing.F) {
	for _, seed := range []string{
		"",
		"line_length_limit = 100\n",
		"myhostname = bad!\nmydomain = ${x\n",
		"compatibility_level = ${{$a} <level {2} ? {1} : {3.6}}\na = 1\n",
		"known_tcp_ports = a=1,a=2, b = c = 3, b=4,,x=1=y\n",
		"default_verp_delimiters = +@\nverp_delimiter_filter = +\n",
		"mynetworks_style = host\ninet_interfaces = 127.0.0.1, [::1]\n",
		"a = $b\nb = $a\nmail_name = $a\n",
	} {
		f.Add([]byte(seed))
	}
	host := fakeHost("host.example.com")
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDict()
		if err := d.Load("/etc/main.cf", data, nil); err != nil {
			return
		}
		before := d.Names()
		var errs [2]string
		for i := range errs {
			if err := CheckGlobalSettings(d, "/etc", host, nil); err != nil {
				errs[i] = err.Error()
			}
		}
		if errs[0] != errs[1] {
			t.Fatalf("two runs disagree: %q, %q", errs[0], errs[1])
		}
		if !cmp.Equal(before, d.Names()) {
			t.Fatalf("settings changed: %q -> %q", before, d.Names())
		}
	})
}
