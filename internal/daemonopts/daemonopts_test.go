package daemonopts

import (
	"testing"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"
)

type cli struct {
	updates []string

	Flags  `embed:""`
	Listen []string `name:"listen"`
	Args   []string `arg:"" optional:"" passthrough:""`
}

func parse(t *testing.T, args ...string) *cli {
	t.Helper()
	var c cli
	p, err := kong.New(&c, kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	updates, err := Check(args, map[string]bool{"listen": true})
	if err != nil {
		t.Fatalf("Check(%q): %v", args, err)
	}
	c.updates = updates
	if _, err := p.Parse(args); err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return &c
}

func TestParseMasterArgv(t *testing.T) {
	// What master(8) builds for "127.0.0.1:6280 inet n - n - 1 qmqpd -o x=y".
	c := parse(t, "-l", "-n", "127.0.0.1:6280", "-t", "inet", "-u", "-c", "-o", "stress=", "-o", " qmqpd_timeout = 5s ", "-i", "7", "-vv", "-V", "-m3")
	if !c.Alone || c.ServiceName != "127.0.0.1:6280" || c.Transport != "inet" || !c.Unprivileged || !c.Chroot || c.Verbose != 2 || !c.Stderr {
		t.Errorf("flags = %+v", c.Flags)
	}
	want := []string{"stress=", "qmqpd_timeout=5s", "max_idle=7", "max_use=3"}
	if d := cmp.Diff(want, c.updates); d != "" {
		t.Errorf("updates (-want +got):\n%s", d)
	}
	if k, err := c.TransportType(); err != nil || k != Inet {
		t.Errorf("TransportType = %v, %v", k, err)
	}
	c = parse(t, "-o", "max_idle=1", "-i", "2", "-o", "max_idle=3")
	if d := cmp.Diff([]string{"max_idle=1", "max_idle=2", "max_idle=3"}, c.updates); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	c = parse(t, "-d", "--listen", "127.0.0.1:0", "-S", "extra", "-x")
	if !c.NoDetach || !c.Stdio || len(c.Listen) != 1 || !cmp.Equal(c.Args, []string{"extra", "-x"}) {
		t.Errorf("got %+v", c)
	}
}

func TestCheckErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-x"}, "invalid option: x"},
		{[]string{"-dq"}, "invalid option: q"},
		{[]string{"-n"}, "invalid option: n"},
		{[]string{"-o", "x"}, `invalid "-o x" option value: missing '=' after attribute name`},
		{[]string{"-o", "=y"}, `invalid "-o =y" option value: missing attribute name`},
		{[]string{"-r", "0"}, "invalid retirement time: 0"},
		{[]string{"-s", "abc"}, "invalid socket_count: abc"},
		{[]string{"-o", "a=b", "-y", "-o", "bad"}, "invalid option: y"},
		{[]string{"--listen", "-x"}, ""},
		{[]string{"arg", "-x"}, ""},
		{[]string{"--", "-x"}, ""},
	} {
		_, err := Check(tc.args, map[string]bool{"listen": true})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Check(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestTransportType(t *testing.T) {
	for _, tc := range []struct {
		f    Flags
		want string
	}{
		{Flags{}, "no transport type specified"},
		{Flags{Transport: "fifo"}, "unsupported transport type: fifo"},
		{Flags{Transport: "UNIX"}, ""},
		{Flags{Stdio: true}, ""},
	} {
		_, err := tc.f.TransportType()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestGeneration(t *testing.T) {
	for _, tc := range []struct {
		v       string
		present bool
		want    uint32
		err     string
	}{
		{"", false, 0, ""},
		{"", true, 0, "bad generation: "},
		{"17", true, 15, ""},
		{"0123", true, 0o123, ""},
		{"189", true, 1, ""},
		{"12a", true, 0, "bad generation: 12a"},
	} {
		g, err := Generation(tc.v, tc.present)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if g != tc.want || got != tc.err {
			t.Errorf("Generation(%q, %v) = %d, %q; want %d, %q", tc.v, tc.present, g, got, tc.want, tc.err)
		}
	}
}
