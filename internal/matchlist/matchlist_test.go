package matchlist

import (
	"strings"
	"testing"
)

func TestMatchBasic(t *testing.T) {
	tests := []struct {
		list       string
		parent     bool
		name, addr string
		want       bool
		wantErr    bool
		warn       string
	}{
		{"", true, "localhost", "127.0.0.1", false, false, ""},
		{"127.0.0.0/8", true, "localhost", "127.0.0.1", true, false, ""},
		{"!127.0.0.1 127.0.0.0/8", true, "localhost", "127.0.0.1", false, false, ""},
		{"!!127.0.0.1", true, "localhost", "127.0.0.1", true, false, ""},
		{"example.com", true, "a.Example.COM", "1.2.3.4", true, false, ""},
		{"example.com", true, "aexample.com", "1.2.3.4", false, false, ""},
		{".example.com", true, "a.example.com", "1.2.3.4", false, false, ""},
		{".example.com", false, "a.example.com", "1.2.3.4", true, false, ""},
		{"example.com", false, "a.example.com", "1.2.3.4", false, false, ""},
		{"[1.2.3.4]", true, "unknown", "1.2.3.4", true, false, ""},
		{"[::1]", true, "unknown", "::1", true, false, ""},
		{"[::1]/128", true, "unknown", "0:0::1", true, false, ""},
		{"[::]/0", true, "unknown", "127.0.0.1", false, false, ""},
		{"0.0.0.0/0", true, "unknown", "::1", false, false, ""},
		{"[1.2.3.0/24]", true, "unknown", "1.2.3.77", true, false, ""},
		{"[1.2.3.0]/24", true, "unknown", "1.2.3.77", true, false, ""},
		{"unknown", true, "unknown", "1.2.3.4", true, false, ""},
		{"*", true, "x", "1.2.3.4", false, false, ""},
		{"1.2.3", true, "x", "1.2.3.4", false, false, ""},
		{"foo/bar", true, "x", "1.2.3.4", false, false, ""},
		{"1.2.3.4 1.2.3.0/33", true, "x", "1.2.3.4", true, false, ""},
		{"1.2.3.0/33", true, "x", "1.2.3.4", false, true, `qmqpd_authorized_clients: bad mask length in "1.2.3.0/33"`},
		{"1.2.3.4/24", true, "x", "1.2.3.4", false, true,
			`qmqpd_authorized_clients: non-null host address bits in "1.2.3.4/24", perhaps you should use "1.2.3.0/24" instead`},
		{"be/be", true, "x", "1.2.3.4", false, true, `qmqpd_authorized_clients: bad mask value in "be/be"`},
		{"[be]/be", true, "x", "::1", false, false, ""},
		{"168.100.589.0/28", true, "x", "1.2.3.4", false, true, `qmqpd_authorized_clients: bad network value in "168.100.589.0/28"`},
		{"[be:be", true, "x", "::1", false, true, `qmqpd_authorized_clients: missing ']' character after "[be:be"`},
		{"[::1]a", true, "x", "::1", false, true, `qmqpd_authorized_clients: garbage after "[::1]"`},
		{"[be:be]", true, "x", "::1", false, true, `qmqpd_authorized_clients: bad address pattern: "be:be"`},
		{"a # b, 127.0.0.1", true, "x", "127.0.0.1", false, false,
			"qmqpd_authorized_clients: comment at end of line is not supported: # b, 127.0.0.1"},
		{"inline:{example.com=ok}", true, "x.a.example.com", "1.2.3.4", true, false, ""},
		{"inline:{.example.com=ok}", false, "x.a.example.com", "1.2.3.4", true, false, ""},
		{"inline:{Example.com=ok}", true, "example.com", "1.2.3.4", false, false, ""},
		{"!inline:{1.2.3.4=ok} 1.2.3.4", true, "x", "1.2.3.4", false, false, ""},
		{"static:x", true, "x", "1.2.3.4", true, false, ""},
		{"bogus:x", true, "x", "1.2.3.4", false, true,
			"unsupported dictionary type: bogus\nbogus:x is unavailable. unsupported dictionary type: bogus\nqmqpd_authorized_clients: bogus:x: table lookup problem"},
		{"2001:db8::1", true, "x", "2001:db8::1", false, true,
			"unsupported dictionary type: 2001\n2001:db8::1 is unavailable. unsupported dictionary type: 2001\nqmqpd_authorized_clients: 2001:db8::1: table lookup problem"},
	}
	for _, tt := range tests {
		var warnings []string
		warn := func(s string) { warnings = append(warnings, s) }
		l, err := New("qmqpd_authorized_clients", tt.list, tt.parent, nil, warn)
		if err != nil {
			t.Errorf("New(%q): %v", tt.list, err)
			continue
		}
		got, err := l.Match(tt.name, tt.addr)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%q parent=%v Match(%q, %q) = %v, %v; want %v, error %v", tt.list, tt.parent, tt.name, tt.addr, got, err, tt.want, tt.wantErr)
		}
		if w := strings.Join(warnings, "\n"); w != tt.warn {
			t.Errorf("%q: warnings\n%s\nwant\n%s", tt.list, w, tt.warn)
		}
	}
}

func TestNewFatal(t *testing.T) {
	tests := []struct{ list, want string }{
		{"a, !", "qmqpd_authorized_clients: no pattern after '!'"},
		{"!!!", "qmqpd_authorized_clients: no pattern after '!'"},
		{"::1", `open dictionary: expecting "type:name" form instead of "::1"`},
	}
	for _, tt := range tests {
		_, err := New("qmqpd_authorized_clients", tt.list, true, nil, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("New(%q) error = %v, want %q", tt.list, err, tt.want)
		}
	}
}
