package maincf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testHost() Host {
	return Host{
		Hostname: func() (string, error) { return "box", nil },
		Interfaces: func() ([]netip.Prefix, error) {
			return []netip.Prefix{
				netip.MustParsePrefix("192.0.2.2/24"),
				netip.MustParsePrefix("127.0.0.1/8"),
				netip.MustParsePrefix("::1/128"),
				netip.MustParsePrefix("fd00::2/64"),
				netip.MustParsePrefix("10.1.2.3/16"),
			}, nil
		},
		PID: func() int { return 4242 },
	}
}

func TestLoad(t *testing.T) {
	dir := scratchDir(t, "myhostname = mx.example.org\nqmqpd_timeout = 5m\nfoo = $myhostname\nmydomain = example.org\n", "")
	var warns []string
	c, err := Load(Options{
		Getenv:      func(k string) string { return map[string]string{"MAIL_CONFIG": dir}[k] },
		Overrides:   []string{"qmqpd_error_delay = 3s", "foo=over $foo", "foo = last $mydomain"},
		ProcessName: "qmqpd",
		ServiceName: "628",
		Warn:        func(s string) { warns = append(warns, s) },
		Host:        testHost(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir() != dir {
		t.Errorf("Dir = %q", c.Dir())
	}
	for name, want := range map[string]string{
		"config_directory":  dir,
		"foo":               "last example.org",
		"process_name":      "qmqpd",
		"service_name":      "628",
		"process_id":        "4242",
		"syslog_name":       "postfix",
		"qmqpd_error_delay": "3s",
		"smtpd_banner":      "mx.example.org ESMTP Postfix",
		"nosuch":            "",
	} {
		if got, err := c.Get(name); err != nil || got != want {
			t.Errorf("Get(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if d, err := c.Time("qmqpd_timeout", time.Second, 0); err != nil || d != 5*time.Minute {
		t.Errorf("Time = %v, %v", d, err)
	}
	if v, _ := c.Raw("foo"); v != "last $mydomain" {
		t.Errorf("Raw(foo) = %q", v)
	}
	if v, ok := c.Raw("nosuch"); ok || v != "" {
		t.Errorf("Raw(nosuch) = %q, %v", v, ok)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v", warns)
	}
	if v, _ := c.Get("mailbox_command"); v != "" {
		t.Errorf("mailbox_command %q", v)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(Options{ConfigDir: dir})
	if err == nil || err.Error() != "open "+dir+"/main.cf: No such file or directory" {
		t.Errorf("err = %v", err)
	}
	dir = scratchDir(t, "a = 1\n", "")
	_, err = Load(Options{ConfigDir: dir, Overrides: []string{"x"}})
	if err == nil || err.Error() != `invalid "-o x" option value: missing '=' after attribute name` {
		t.Errorf("err = %v", err)
	}
	_, err = Load(Options{ConfigDir: dir, Overrides: []string{"=x"}})
	if err == nil || err.Error() != `invalid "-o =x" option value: missing attribute name` {
		t.Errorf("err = %v", err)
	}
	dir = scratchDir(t, "a = 1\nb\n", "")
	_, err = Load(Options{ConfigDir: dir})
	if err == nil || err.Error() != dir+`/main.cf, line 2: missing '=' after attribute name: "b"` {
		t.Errorf("err = %v", err)
	}
	// Loops and syntax errors: warnings, then the daemon's fatal text.
	dir = scratchDir(t, "relayhost = $a\na = $relayhost\nbanner = [a$]\n", "")
	var warns []string
	c, err := Load(Options{ConfigDir: dir, Warn: func(s string) { warns = append(warns, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("relayhost"); err == nil || err.Error() != "dictionary mail_dict: macro processing error" {
		t.Errorf("err = %v", err)
	}
	if _, err := c.Get("banner"); err == nil || err.Error() != "dictionary mail_dict: macro processing error" {
		t.Errorf("err = %v", err)
	}
	want := []string{`unreasonable macro call nesting: "relayhost"`, `empty macro name: "[a$]"`}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestLoadDefaultDir(t *testing.T) {
	d, explicit := ConfigDirFrom("", func(string) string { return "" })
	if d != DefaultConfigDir || explicit {
		t.Errorf("%q %v", d, explicit)
	}
	d, explicit = ConfigDirFrom("/x", nil)
	if d != "/x" || !explicit {
		t.Errorf("%q %v", d, explicit)
	}
}

func TestComputedDefaults(t *testing.T) {
	c, err := Load(Options{NoMainCF: true, Host: testHost(), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"myhostname":       "box.localdomain",
		"mydomain":         "localdomain",
		"mynetworks":       "10.1.0.0/16 127.0.0.0/8 192.0.2.0/24 [::1]/128 [fd00::]/64",
		"config_directory": "/etc/postfix",
		"mydestination":    "box.localdomain, localhost.localdomain, localhost",
	} {
		if got, err := c.Get(name); err != nil || got != want {
			t.Errorf("Get(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, tc := range []struct{ style, protos, ifaces, want string }{
		{"host", "all", "all", "10.1.2.3/32 127.0.0.1/32 192.0.2.2/32 [::1]/128 [fd00::2]/128"},
		{"class", "ipv4", "all", "10.0.0.0/8 127.0.0.0/8 192.0.2.0/24"},
		{"subnet", "ipv6", "all", "[::1]/128 [fd00::]/64"},
		{"subnet", "all", "loopback-only", "127.0.0.0/8 [::1]/128"},
		{"host,", "all", "::1, 192.0.2.2", "192.0.2.2/32 [::1]/128"},
		{"host", "", "all", ""},
	} {
		got, err := ComputeMynetworks(tc.style, tc.protos, tc.ifaces, testHost())
		if err != nil || got != tc.want {
			t.Errorf("%v: %q, %v", tc, got, err)
		}
	}
	for _, tc := range []struct{ style, protos, ifaces, want string }{
		{"bogus", "all", "all", `unknown mynetworks mask style value "bogus" in "bogus"`},
		{"SUBNET", "all", "all", `unknown mynetworks mask style value "SUBNET" in "SUBNET"`},
		{"subnet, host", "all", "all", "bad mynetworks_style value: subnet, host; specify exactly one value"},
		{"", "all", "all", "bad mynetworks_style value: ; specify exactly one value"},
		{"host", "bogus", "all", `unknown inet_protocols value "bogus" in "bogus"`},
		{"host", "all", "10.9.9.9", "parameter inet_interfaces: no local interface found for 10.9.9.9"},
		{"host", "ipv6", "192.0.2.2", "config variable inet_interfaces: host not found: 192.0.2.2"},
	} {
		_, err := ComputeMynetworks(tc.style, tc.protos, tc.ifaces, testHost())
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: err = %v", tc, err)
		}
	}
	if got := ComputeMyhostname("a.b", "x"); got != "a.b" {
		t.Error(got)
	}
	if got := ComputeMyhostname("a", "x.y"); got != "a.x.y" {
		t.Error(got)
	}
	if got := ComputeMydomain("a.b.c"); got != "b.c" {
		t.Error(got)
	}
}

// TestComputedMatchesPostconf compares the machine-dependent defaults
// with the real postconf on this machine.
func TestComputedMatchesPostconf(t *testing.T) {
	t.Parallel()
	cases := []string{
		"",
		"mydomain = example.net\n",
		"myhostname = a.b.example\n",
		"mynetworks_style = host\n",
		"mynetworks_style = class\n",
		"compatibility_level = 3.6\n",
		"inet_protocols = ipv4\nmynetworks_style = host\n",
		"inet_protocols = ipv6\n",
		"inet_protocols =\n",
		"inet_interfaces = loopback-only\n",
		"inet_interfaces = ::1, 127.0.0.1\nmynetworks_style = host\n",
		"inet_interfaces = localhost\n",
		"mynetworks_style = bogus\n",
		"mynetworks_style = subnet, host\n",
		"inet_interfaces = 10.9.9.9\n",
		"inet_protocols = ipv6\ninet_interfaces = 127.0.0.1\n",
	}
	names := []string{"myhostname", "mydomain", "mynetworks"}
	var runs []func() postconfResult
	var dirs []string
	for _, in := range cases {
		dir := scratchDir(t, in, "")
		dirs = append(dirs, dir)
		runs = append(runs, func() postconfResult { return runPostconf(dir, append([]string{"-xh"}, names...)...) })
	}
	results := runPostconfAll(t, runs)
	for i, in := range cases {
		r := results[i]
		c, err := Load(Options{ConfigDir: dirs[i]})
		if err != nil {
			t.Fatal(err)
		}
		var out, errs string
		for _, n := range names {
			v, err := c.Get(n)
			if err != nil {
				errs = "postconf: fatal: " + err.Error() + "\n"
				out = ""
				break
			}
			out += collapse(v) + "\n"
		}
		if r.stdout != out || dropLines(r.stderr, "unused parameter") != errs {
			t.Errorf("%q:\npostconf:\n%s%s\nmine:\n%s%s", in, r.stdout, r.stderr, out, errs)
		}
	}
}

// TestDefaultsMatchPostconf compares every built-in parameter, raw and
// expanded, at compatibility levels 0 and 3.6, with the real postconf.
func TestDefaultsMatchPostconf(t *testing.T) {
	for _, tc := range []struct {
		mainCF string
		args   []string
		opts   Options
		expand bool
	}{
		{"", []string{"-d"}, Options{NoMainCF: true}, false},
		{"", []string{"-dx"}, Options{NoMainCF: true}, true},
		{"compatibility_level = 3.6\n", []string{"-x"}, Options{}, true},
		{"compatibility_level = 2\nmyhostname = mail.example.com\n", []string{"-x"}, Options{}, true},
	} {
		dir := scratchDir(t, tc.mainCF, "")
		out, _, code := realPostconf(t, dir, tc.args...)
		if code != 0 {
			t.Fatalf("%v: rc %d", tc.args, code)
		}
		opts := tc.opts
		opts.ConfigDir = dir
		opts.ProcessName = "postconf"
		c, err := Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		var mine []string
		for _, n := range BuiltinNames() {
			var v string
			if tc.expand {
				v, err = c.Get(n)
			} else {
				v, _ = c.Raw(n)
			}
			if err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			if n == "config_directory" && tc.opts.NoMainCF {
				v = DefaultConfigDir // postconf -d shows the compiled-in value
			}
			if v = collapse(v); v == "" {
				mine = append(mine, n+" =")
			} else {
				mine = append(mine, n+" = "+v)
			}
		}
		sort.Strings(mine)
		var real []string
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if !strings.HasPrefix(l, "process_id = ") {
				real = append(real, l)
			}
		}
		var mineNoPID []string
		for _, l := range mine {
			if !strings.HasPrefix(l, "process_id = ") {
				mineNoPID = append(mineNoPID, l)
			}
		}
		if diff := cmp.Diff(real, mineNoPID); diff != "" {
			t.Errorf("%v %q (-postconf +mine):\n%s", tc.args, tc.mainCF, diff)
		}
	}
}

func TestTyped(t *testing.T) {
	dir := scratchDir(t, strings.Join([]string{
		"b1 = YES", "b2 = no", "b3 = true",
		"i1 = 42", "i2 = 10k", "i3 = -5", "i4 = 99999999999", "i5 = ", "i6 = 0x10",
		"l1 = 99999999999", "l2 = 99999999999999999999",
		"qmqpd_timeout = 10seconds", "t2 = 2w", "t3 = 10x", "t4 = -5", "t5 =", "t6 = 5",
		"ipc_timeout = 7", "t7 = 3000000000s", "t8 = 4000w",
		"list = a,b  c,{d e}, ,f\tg", "ref = $i1",
	}, "\n")+"\n", "")
	c, err := Load(Options{ConfigDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, want string) {
		t.Helper()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%s: err %q, want %q", what, got, want)
		}
	}
	b, err := c.Bool("b1")
	check("b1", err, "")
	if !b {
		t.Error("b1 false")
	}
	b, err = c.Bool("b2")
	check("b2", err, "")
	_, err = c.Bool("b3")
	check("b3", err, "bad boolean configuration: b3 = true")
	b, err = c.Bool("soft_bounce")
	check("soft_bounce", err, "")
	if b {
		t.Error("soft_bounce true")
	}
	b, err = c.Bool("smtputf8_enable")
	check("smtputf8_enable", err, "")

	n, err := c.Int("i1", 1, 100)
	check("i1", err, "")
	if n != 42 {
		t.Error(n)
	}
	_, err = c.Int("i1", 50, 0)
	check("i1 min", err, "invalid i1 parameter value 42 < 50")
	_, err = c.Int("i1", 0, 40)
	check("i1 max", err, "invalid i1 parameter value 42 > 40")
	_, err = c.Int("i2", 0, 0)
	check("i2", err, "bad numerical configuration: i2 = 10k")
	_, err = c.Int("i3", 1, 0)
	check("i3", err, "invalid i3 parameter value -5 < 1")
	_, err = c.Int("i4", 0, 0)
	check("i4", err, "bad numerical configuration: i4 = 99999999999")
	_, err = c.Int("i5", 0, 0)
	check("i5", err, "bad numerical configuration: i5 = ")
	_, err = c.Int("i6", 0, 0)
	check("i6", err, "bad numerical configuration: i6 = 0x10")
	n, err = c.Int("ref", 0, 0)
	check("ref", err, "")
	if n != 42 {
		t.Error(n)
	}
	n, err = c.Int("line_length_limit", 512, 0)
	check("line_length_limit", err, "")
	if n != 2048 {
		t.Error(n)
	}
	l, err := c.Long("l1", 0, 0)
	check("l1", err, "")
	if l != 99999999999 {
		t.Error(l)
	}
	_, err = c.Long("l2", 0, 0)
	check("l2", err, "bad numerical configuration: l2 = 99999999999999999999")
	l, err = c.Long("message_size_limit", 0, 0)
	check("message_size_limit", err, "")
	if l != 10240000 {
		t.Error(l)
	}

	for _, tc := range []struct {
		name string
		min  time.Duration
		want time.Duration
		err  string
	}{
		{"qmqpd_timeout", time.Second, 10 * time.Second, ""},
		{"t2", 0, 2 * 7 * 24 * time.Hour, ""},
		{"t3", 0, 0, "parameter t3: bad time value or unit: 10x"},
		{"t4", 0, 0, "parameter t4: bad time value or unit: -5"},
		{"t5", 0, 0, "parameter t5: bad time value or unit: "},
		{"t6", 0, 5 * time.Second, ""},
		{"t6", 10 * time.Second, 0, "invalid t6: 5 (min 10)"},
		{"ipc_timeout", 0, 7 * time.Second, ""},
		{"t7", 0, 0, "parameter t7: bad time value or unit: 3000000000s"},
		{"t8", 0, 0, "parameter t8: bad time value or unit: 4000w"},
		{"qmqpd_error_delay", 0, time.Second, ""},
		{"smtpd_timeout", 0, 300 * time.Second, ""},
		{"max_idle", 0, 100 * time.Second, ""},
	} {
		d, err := c.Time(tc.name, tc.min, 0)
		check(tc.name, err, tc.err)
		if d != tc.want {
			t.Errorf("Time(%s) = %v, want %v", tc.name, d, tc.want)
		}
	}
	_, err = c.Time("t6", 0, 4*time.Second)
	check("t6 max", err, "invalid t6: 5 (max 4)")

	list, err := c.List("list")
	check("list", err, "")
	if diff := cmp.Diff([]string{"a", "b", "c", "{d e}", "f", "g"}, list); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
}

func TestConvTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit byte
		want int
		ok   bool
	}{
		{"5m", 's', 300, true}, {"2w", 's', 1209600, true}, {"10seconds", 's', 10, true},
		{"10", 'h', 36000, true}, {"1d", 's', 86400, true}, {"0", 's', 0, true},
		{"10x", 's', 0, false}, {"", 's', 0, false}, {"-1", 's', 0, false}, {"h", 's', 0, true}, {"x", 's', 0, false},
		{" 5", 's', 5, true}, {"+5m", 's', 300, true},
	} {
		got, ok := ConvTime(tc.in, tc.unit)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ConvTime(%q, %c) = %d, %v", tc.in, tc.unit, got, ok)
		}
	}
	if DefaultTimeUnit("${stress?{10}:{300}}s") != 's' || DefaultTimeUnit("1h") != 'h' || DefaultTimeUnit("10") != 's' {
		t.Error("DefaultTimeUnit")
	}
}

func TestParamClasses(t *testing.T) {
	if !IsBuiltin("qmqpd_timeout") || IsBuiltin("virtual_maps") || IsBuiltin("nosuch") {
		t.Error("IsBuiltin")
	}
	if !IsLegacy("virtual_maps") || IsLegacy("qmqpd_timeout") || len(LegacyParams()) != 13 {
		t.Error("IsLegacy")
	}
	if !IsRaw("mailbox_command") || IsRaw("relayhost") || len(RawParams()) != 9 {
		t.Error("IsRaw")
	}
	for _, n := range RawParams() {
		if !IsBuiltin(n) {
			t.Errorf("raw %s not built-in", n)
		}
	}
	if !IsReadOnly("process_id") || IsReadOnly("relayhost") {
		t.Error("IsReadOnly")
	}
	if len(BuiltinNames()) != 831 || GeneratedFrom != "3.7.11" {
		t.Errorf("%d built-ins from %s", len(BuiltinNames()), GeneratedFrom)
	}
	if !IsComputedDefault("mynetworks") || IsComputedDefault("relayhost") {
		t.Error("IsComputedDefault")
	}
	if _, ok := BuiltinDefault("mynetworks"); ok {
		t.Error("BuiltinDefault of computed")
	}
	for _, c := range []Class{ClassBuiltin, ClassService, ClassUser, ClassLegacy, 0} {
		_ = c.String()
	}
}

// TestServiceParamsMatchPostconf compares the service-defined parameters
// of Debian's stock master.cf with the real postconf -d.
func TestServiceParamsMatchPostconf(t *testing.T) {
	const dist = "/usr/share/postfix/master.cf.dist"
	data, err := os.ReadFile(dist)
	if err != nil {
		t.Skipf("no %s: %v", dist, err)
	}
	dir := scratchDir(t, "", string(data))
	out, _, code := realPostconf(t, dir, "-d")
	if code != 0 {
		t.Fatalf("rc %d", code)
	}
	entries, err := ReadMaster(filepath.Join(dir, "master.cf"))
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		n, v, _ := strings.Cut(l, " =")
		real[n] = strings.TrimPrefix(v, " ")
	}
	sp := ServiceParams(entries)
	for _, p := range sp {
		if v, ok := real[p.Name]; !ok || v != p.Default {
			t.Errorf("%s = %q; postconf %q (%v)", p.Name, p.Default, v, ok)
		}
	}
	if got := len(real) - len(BuiltinNames()); got != len(sp)-2 {
		// local_destination_{concurrency,recipient}_limit are both.
		t.Errorf("postconf lists %d non-built-ins, we derive %d service parameters", got, len(sp))
	}
	var builtinToo []string
	for _, p := range sp {
		if p.Builtin {
			builtinToo = append(builtinToo, p.Name)
		}
	}
	if diff := cmp.Diff([]string{"local_destination_concurrency_limit", "local_destination_recipient_limit"}, builtinToo); diff != "" {
		t.Errorf("built-in service parameters (-want +got):\n%s", diff)
	}
}

func TestParseOverride(t *testing.T) {
	n, v, err := ParseOverride(" a = b c ")
	if n != "a" || v != "b c" || err != nil {
		t.Errorf("%q %q %v", n, v, err)
	}
	if _, _, err := ParseOverride("x"); !errors.Is(err, ErrMissingEqual) {
		t.Error(err)
	}
	_ = fmt.Sprint()
}
