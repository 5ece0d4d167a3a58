package maincf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const stockMaster = `# header comment
smtp      inet  n       -       y       -       -       smtpd
#submission inet n       -       y       -       -       smtpd
#  -o syslog_name=postfix/submission
pickup    fifo  n       -       y       60      1       pickup
  -o content_filter=
  # inner comment
  -o receive_override_options=no_header_body_checks
cleanup   unix  n       -       y       -       0       cleanup
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=postfix/$service_name
#       -o smtp_helo_timeout=5 -o smtp_connect_timeout=5
628       inet  n       -       y       -       -       qmqpd -v -o qmqpd_timeout=10s arg
`

var masterEditCases = []struct {
	flag string
	kind MasterEditKind
	mode EditMode
	args []string
}{
	{"-Me", EditEntries, EditSet, []string{"628/inet=628 inet n - n - - qmqpd -o qmqpd_error_delay=0s"}},
	{"-Me", EditEntries, EditSet, []string{"new/unix=new unix - n n - - pipe flags=R user=x argv=/bin/cat { a b } ${recipient}"}},
	{"-Me", EditEntries, EditSet, []string{"smtp/inet=relay unix - - y - - smtp"}},
	{"-Me", EditEntries, EditSet, []string{"*/unix=cleanup unix n - y - 0 cleanup -v"}},
	{"-MX", EditEntries, EditRemove, []string{"pickup/fifo"}},
	{"-MX", EditEntries, EditRemove, []string{"relay/unix", "nosuch/inet"}},
	{"-M#", EditEntries, EditComment, []string{"pickup/fifo"}},
	{"-M#", EditEntries, EditComment, []string{"*/unix"}},
	{"-Fe", EditFields, EditSet, []string{"smtp/inet/command=smtpd -o smtpd_tls_security_level=may -v"}},
	{"-Fe", EditFields, EditSet, []string{"pickup/fifo/chroot=n"}},
	{"-Fe", EditFields, EditSet, []string{"*/unix/process_limit=7"}},
	{"-Fe", EditFields, EditSet, []string{"nosuch/inet/chroot=n"}},
	{"-Pe", EditParams, EditSet, []string{"pickup/fifo/content_filter=smtp:[x]"}},
	{"-Pe", EditParams, EditSet, []string{"628/inet/qmqpd_authorized_clients=127.0.0.1"}},
	{"-Pe", EditParams, EditSet, []string{"*/inet/qmqpd_timeout=5s"}},
	{"-Pe", EditParams, EditSet, []string{"nosuch/inet/a=b"}},
	{"-PX", EditParams, EditRemove, []string{"pickup/fifo/content_filter"}},
	{"-PX", EditParams, EditRemove, []string{"628/inet/qmqpd_timeout", "relay/unix/syslog_name"}},
}

func TestEditMasterMatchesPostconf(t *testing.T) {
	for _, tc := range masterEditCases {
		realDir := scratchDir(t, "", stockMaster)
		myDir := scratchDir(t, "", stockMaster)
		_, stderr, code := realPostconf(t, realDir, append([]string{tc.flag}, tc.args...)...)
		var warns []string
		warn := func(s string) { warns = append(warns, s) }
		reqs, err := ParseMasterEdits(tc.kind, tc.mode, tc.args)
		if err == nil {
			err = EditMaster(filepath.Join(myDir, "master.cf"), tc.kind, tc.mode, reqs, warn)
		}
		if err != nil || code != 0 {
			t.Errorf("%s %v: mine err %v, postconf rc %d %s", tc.flag, tc.args, err, code, stderr)
			continue
		}
		want, _ := os.ReadFile(filepath.Join(realDir, "master.cf"))
		got, _ := os.ReadFile(filepath.Join(myDir, "master.cf"))
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s %v: master.cf (-postconf +mine):\n%s", tc.flag, tc.args, diff)
		}
		// postconf also reports unused parameters of the files it read.
		if w, g := dropLines(stderr, "unused parameter: ", "undefined parameter: "), warnLines(warns); w != g {
			t.Errorf("%s %v: warnings: postconf\n%smine\n%s", tc.flag, tc.args, w, g)
		}
	}
}

func TestParseMasterEditsErrors(t *testing.T) {
	for _, tc := range []struct {
		kind MasterEditKind
		mode EditMode
		args []string
		want string
	}{
		{EditEntries, EditSet, []string{"a/b=x\ny"}, "-Me, -Fe, -Pe, -X, or -# accept no multi-line input"},
		{EditEntries, EditSet, []string{" #a/b=x"}, "-Me, -Fe, -Pe, -X, or -# accept no comment input"},
		{EditEntries, EditSet, []string{"a/b"}, `missing '=' after attribute name: "a/b"`},
		{EditEntries, EditRemove, []string{"a/b=c"}, "-X or -# requires names without value"},
		{EditEntries, EditRemove, []string{"a"}, "-Me, -MX or -M# requires service_name/type"},
		{EditEntries, EditRemove, []string{"/a/b"}, "-Me, -MX or -M# requires service_name/type"},
		{EditEntries, EditRemove, []string{"a*/b"}, "-Me, -MX or -M# requires service_name/type"},
		{EditFields, EditSet, []string{"a/b=c"}, "-Fe or -FX requires service_name/type/field_name"},
		{EditFields, EditSet, []string{"a/b/bogus=c"}, `invalid service attribute name: "bogus"`},
		{EditFields, EditSet, []string{"a/b/*=c"}, "-Fe does not accept wild-card field name"},
		{EditFields, EditSet, []string{"a/b/chroot=y n"}, "-Fe does not accept whitespace in non-command field"},
		{EditParams, EditSet, []string{"a/b=c"}, "-Pe or -PX requires service_name/type/parameter"},
		{EditParams, EditRemove, []string{"a/b/*"}, "-Pe does not accept wild-card parameter name"},
		{EditParams, EditSet, []string{"a/b/c=d e"}, "-Pe does not accept whitespace in parameter value"},
	} {
		_, err := ParseMasterEdits(tc.kind, tc.mode, tc.args)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestEditMasterErrors(t *testing.T) {
	for _, tc := range []struct {
		master string
		kind   MasterEditKind
		mode   EditMode
		args   []string
		want   string
	}{
		{"a unix - - - - - a\n", EditEntries, EditSet, []string{"x/inet=x inet n - n - -"}, `bad field count: "x/inet=x inet n - n - -"`},
		{"a unix - - - - - a\n", EditEntries, EditSet, []string{"x/inet=x tcp n - n - - x"}, `invalid type field "tcp" in "x tcp n - n - - x"`},
		{"a unix - - - - - a\n", EditFields, EditSet, []string{"a/unix/private=x"}, `invalid private field "x" in "x"`},
		{"a\n unix - - - - - a\n", EditEntries, EditRemove, []string{"a/unix"}, "file DIR/master.cf: line 1: specify service name and type on the same line"},
		{"a=b unix - - - - - a\n", EditEntries, EditRemove, []string{"a/unix"}, `file DIR/master.cf: line 1: service name syntax "a=b" is unsupported with -Me, -Fe, -Pe, -X, or -#`},
		{"#\na u/x - - - - - a\n", EditEntries, EditRemove, []string{"a/unix"}, `file DIR/master.cf: line 2: service type syntax "u/x" is unsupported with -Me, -Fe, -Pe, -X, or -#`},
		{"a unix - - -\n", EditParams, EditSet, []string{"a/unix/x=y"}, "file DIR/master.cf: line 1: bad field count"},
	} {
		dir := scratchDir(t, "", tc.master)
		reqs, err := ParseMasterEdits(tc.kind, tc.mode, tc.args)
		if err == nil {
			err = EditMaster(filepath.Join(dir, "master.cf"), tc.kind, tc.mode, reqs, nil)
		}
		if err == nil || strings.ReplaceAll(err.Error(), dir, "DIR") != tc.want {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "master.cf"))
		if string(got) != tc.master {
			t.Errorf("%v: master.cf changed to %q", tc.args, got)
		}
		if _, err := os.Stat(filepath.Join(dir, "master.cf.tmp")); err == nil {
			t.Errorf("%v: master.cf.tmp left behind", tc.args)
		}
	}
}
