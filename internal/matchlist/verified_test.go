package matchlist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmqpd-go/qmqpd/internal/dict"
)

// TestObserved holds lists that were tried against the real Postfix 3.7.11
// qmqpd for a client localhost[127.0.0.1] (qmqpd_authorized_clients, with
// its default parent-domain style), with the outcome (authorized, "not
// authorized" or "server configuration error") and the warnings qmqpd
// logged. DIR stands for a directory with the files the lists refer to.
func TestObserved(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"list1":  "#x\n!127.0.0.1\n",
		"list2":  "127.0.0.1\n",
		"c.cidr": "1.2.3.0/24 ok\n",
		"th":     "localhost ok\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const (
		yes = iota
		no
		configError
	)
	tests := []struct {
		list  string
		want  int
		warns string
	}{
		{"localhost", yes, ""},
		{"LOCALHOST", yes, ""},
		{".localhost", no, ""},
		{"!127.0.0.1, 127.0.0.0/8", no, ""},
		{"# comment, 127.0.0.1", no, "warning: qmqpd_authorized_clients: comment at end of line is not supported: # comment, 127.0.0.1"},
		{"127.0.0.1 # comment", yes, "warning: qmqpd_authorized_clients: comment at end of line is not supported: # comment"},
		{"DIR/nonexist", configError, "error: open file DIR/nonexist: No such file or directory\n" +
			"warning: non-existent:DIR/nonexist is unavailable. open file DIR/nonexist: No such file or directory\n" +
			"warning: qmqpd_authorized_clients: non-existent:DIR/nonexist: table lookup problem"},
		{"DIR/list1 127.0.0.1", no, ""},
		{"!DIR/list2 127.0.0.1", no, ""},
		{"inline:{LOCALHOST=ok}", no, ""},
		{"cidr:DIR/c.cidr 127.0.0.1", yes, ""},
		{"[127.0.0.1]", yes, ""},
		{"[127.0.0.0]/8", yes, ""},
		{"be/be", configError, `warning: qmqpd_authorized_clients: bad mask value in "be/be"`},
		{"{127.0.0.1}", no, ""},
		{"regexp:{{/^local/ ok}}", yes, ""},
		{"texthash:DIR/th", yes, ""},
		{"fail:x", configError, "warning: qmqpd_authorized_clients: fail:x: table lookup problem"},
		{"static:{x y}", yes, ""},
		{"127.0.0.1/8", configError, `warning: qmqpd_authorized_clients: non-null host address bits in "127.0.0.1/8", perhaps you should use "127.0.0.0/8" instead`},
		{"localhost.", no, ""},
		{"host", no, ""},
		{"[127.0.0.1/8]", configError, `warning: qmqpd_authorized_clients: non-null host address bits in "127.0.0.1/8", perhaps you should use "127.0.0.0/8" instead`},
		{"*", no, ""},
		{"unknown 127.0.0.1", yes, ""},
		{"bogus:x", configError, "error: unsupported dictionary type: bogus\n" +
			"warning: bogus:x is unavailable. unsupported dictionary type: bogus\n" +
			"warning: qmqpd_authorized_clients: bogus:x: table lookup problem"},
		{"1.2.3.0/33", configError, `warning: qmqpd_authorized_clients: bad mask length in "1.2.3.0/33"`},
		{"", no, ""},
	}
	for _, tt := range tests {
		var log []string
		reg := dict.NewRegistry(func(s string) { log = append(log, "warning: "+s) })
		reg.Error = func(s string) { log = append(log, "error: "+s) }
		list := strings.ReplaceAll(tt.list, "DIR", dir)
		l, err := New("qmqpd_authorized_clients", list, true, reg, reg.Warn)
		if err != nil {
			t.Errorf("New(%q): %v", tt.list, err)
			continue
		}
		ok, err := l.Match("localhost", "127.0.0.1")
		got := no
		switch {
		case err != nil:
			got = configError
		case ok:
			got = yes
		}
		if got != tt.want {
			t.Errorf("%q: outcome %d, want %d (error %v)", tt.list, got, tt.want, err)
		}
		if w := strings.ReplaceAll(strings.Join(log, "\n"), dir, "DIR"); w != tt.warns {
			t.Errorf("%q: log\n%s\nwant\n%s", tt.list, w, tt.warns)
		}
	}
}

func TestIncludeErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := New("debug_peer_list", dir, true, nil, nil)
	if err == nil || err.Error() != "match_list_parse: read file "+dir+": Is a directory" {
		t.Errorf("directory include: %v", err)
	}
	self := filepath.Join(dir, "self")
	os.WriteFile(self, []byte(self+"\n"), 0o644)
	if _, err := New("debug_peer_list", self, true, nil, nil); err == nil {
		t.Error("self-including file: no error")
	}
	bang := filepath.Join(dir, "bang")
	os.WriteFile(bang, []byte("1.2.3.4, !\n"), 0o644)
	if _, err := New("debug_peer_list", bang, true, nil, nil); err == nil || err.Error() != "debug_peer_list: no pattern after '!'" {
		t.Errorf("'!' in file: %v", err)
	}
}

func TestParentStyle(t *testing.T) {
	def := "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps"
	if !ParentStyle("qmqpd_authorized_clients", def) || !ParentStyle("debug_peer_list", def) {
		t.Error("default parent_domain_matches_subdomains")
	}
	if ParentStyle("qmqpd_authorized_clients", "debug_peer_list, {qmqpd_authorized_clients}") {
		t.Error("braced name matched")
	}
}
