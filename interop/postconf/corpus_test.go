package postconf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// A corpusCase is one configuration directory: the files it holds and the
// postconf invocations to compare on it.
type corpusCase struct {
	Name string
	// Files maps a file name (main.cf, master.cf, ...) to its content. A file
	// that is absent from the map is absent from the directory.
	Files map[string][]byte
	// Modes maps a file name to the permission bits it is created with
	// (default 0644).
	Modes map[string]os.FileMode
	// Groups names the mode groups of the global matrix run on this case.
	Groups map[string]bool
	// Runs are extra listing invocations (arguments after "-c DIR").
	Runs [][]string
	// EnvRuns are listing invocations run with MAIL_CONFIG=DIR instead of -c.
	EnvRuns [][]string
	// Edits are editing invocations (arguments after "-c DIR"); they run on
	// private copies and the resulting files are compared too.
	Edits [][]string
}

// defaultGroups are the groups of the global mode matrix every case runs
// unless its "groups:" directive says otherwise.
var defaultGroups = []string{"main", "master"}

// loadCorpus reads every testdata/corpus/*.txtar file and adds the cases that
// are generated in code (binary content, CRLF, huge values).
//
// The comment section of a txtar file holds directives, one a line:
//
//	groups: main master defaults full  (replace the default mode groups; "none" = no matrix)
//	run: ARGS                          (an extra listing run; ARGS split like a shell)
//	envrun: ARGS                       (a listing run with MAIL_CONFIG=DIR and no -c)
//	edit: ARGS                         (an editing run compared on private copies)
//	copy: FILE /abs/path               (FILE's content comes from an installed file)
//	crlf: FILE                         (turn every LF of FILE into CRLF)
//	nonl: FILE                         (remove FILE's final newline)
//	mode: FILE 0600                    (create FILE with this mode)
//	# anything                         (a comment)
func loadCorpus(t *testing.T) []*corpusCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []*corpusCase
	for _, p := range paths {
		c, err := parseCase(p)
		if err != nil {
			t.Fatalf("corpus %s: %v", p, err)
		}
		cases = append(cases, c)
	}
	cases = append(cases, generatedCases()...)
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	for i := 1; i < len(cases); i++ {
		if cases[i].Name == cases[i-1].Name {
			t.Fatalf("corpus: duplicate case name %q", cases[i].Name)
		}
	}
	return cases
}

// parseCase reads one txtar corpus file.
func parseCase(path string) (*corpusCase, error) {
	ar, err := txtar.ParseFile(path)
	if err != nil {
		return nil, err
	}
	c := &corpusCase{
		Name:   strings.TrimSuffix(filepath.Base(path), ".txtar"),
		Files:  map[string][]byte{},
		Modes:  map[string]os.FileMode{},
		Groups: map[string]bool{},
	}
	for _, f := range ar.Files {
		c.Files[f.Name] = f.Data
	}
	groupsSet := false
	for i, line := range strings.Split(string(ar.Comment), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: directive without ':': %q", i+1, line)
		}
		rest = strings.TrimSpace(rest)
		switch key {
		case "groups":
			groupsSet = true
			for _, g := range strings.Fields(rest) {
				if g != "none" {
					c.Groups[g] = true
				}
			}
		case "run", "envrun", "edit":
			args, err := splitArgs(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", i+1, err)
			}
			switch key {
			case "run":
				c.Runs = append(c.Runs, args)
			case "envrun":
				c.EnvRuns = append(c.EnvRuns, args)
			default:
				c.Edits = append(c.Edits, args)
			}
		case "copy":
			f := strings.Fields(rest)
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: copy needs FILE and PATH", i+1)
			}
			data, err := os.ReadFile(f[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", i+1, err)
			}
			c.Files[f[0]] = data
		case "crlf", "nonl":
			data, ok := c.Files[rest]
			if !ok {
				return nil, fmt.Errorf("line %d: %s: no file %q", i+1, key, rest)
			}
			if key == "crlf" {
				c.Files[rest] = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			} else {
				c.Files[rest] = bytes.TrimSuffix(data, []byte("\n"))
			}
		case "mode":
			f := strings.Fields(rest)
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: mode needs FILE and MODE", i+1)
			}
			m, err := strconv.ParseUint(f[1], 8, 32)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", i+1, err)
			}
			c.Modes[f[0]] = os.FileMode(m)
		default:
			return nil, fmt.Errorf("line %d: unknown directive %q", i+1, key)
		}
	}
	if !groupsSet {
		for _, g := range defaultGroups {
			c.Groups[g] = true
		}
	}
	return c, nil
}

// splitArgs splits s into words like a POSIX shell would for the simple
// cases the corpus needs: whitespace separates words, '...' quotes
// literally, "..." quotes with backslash escapes for \, ", \n (newline) and
// \t (tab), and a
// backslash outside quotes escapes the next character.
func splitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
	)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case ch == '\'':
			inArg = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case ch == '"':
			inArg = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					switch s[i+1] {
					case '"', '\\':
						i++
					case 'n':
						i++
						cur.WriteByte('\n')
						continue
					case 't':
						i++
						cur.WriteByte('\t')
						continue
					}
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
		case ch == '\\' && i+1 < len(s):
			inArg = true
			i++
			cur.WriteByte(s[i])
		default:
			inArg = true
			cur.WriteByte(ch)
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// generatedCases are corpus cases whose content is awkward to keep in a text
// file: CRLF line endings, control and invalid UTF-8 bytes, NUL bytes, and
// huge values.
func generatedCases() []*corpusCase {
	mk := func(name string, files map[string][]byte, runs ...string) *corpusCase {
		c := &corpusCase{
			Name:   name,
			Files:  files,
			Modes:  map[string]os.FileMode{},
			Groups: map[string]bool{"main": true, "master": true},
		}
		for _, r := range runs {
			args, err := splitArgs(r)
			if err != nil {
				panic(err)
			}
			c.Runs = append(c.Runs, args)
		}
		return c
	}
	crlf := func(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

	// 100 KB values: one user-defined and used, one built-in, one unused,
	// and one long continuation made of many physical lines.
	big := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz ", 100*1024/37+1)
	var cont strings.Builder
	cont.WriteString("mydestination = first")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&cont, "\n    host%04d.example.com,", i)
	}
	cont.WriteString("\n")
	huge := "big_user = " + big + "\n" +
		"smtpd_banner = $myhostname $big_user\n" +
		"big_unused = " + big + "\n" +
		"header_checks = " + strings.Repeat("x", 100*1024) + "\n" +
		cont.String()
	hugeMaster := "smtp inet n - n - - smtpd -o big_user=" + strings.Repeat("y", 100*1024) + "\n" +
		"big unix - - n - - smtp -o smtp_helo_name=$big_user\n"

	v := func(s string) []byte { return []byte(s) }

	// postconf -m runs the start-up checks of the global parameters
	// (Postfix's mail_params_init): one case per check.
	var initCases []*corpusCase
	for i, mainCF := range []string{
		"",
		"setgid_group =\n",
		"compatibility_level = x\n",
		"syslog_facility = bogus\n",
		"myhostname = bad_host!\n",
		"myhostname = 1234\n",
		"mydomain = -x.com\n",
		"mail_owner = nosuchuser\n",
		"mail_owner = root\n",
		"default_privs = postfix\n",
		"setgid_group = nosuchgroup\n",
		"setgid_group = root\n",
		"line_length_limit = 100\n",
		"message_size_limit = 10k\n",
		"ipc_timeout = 0\n",
		"in_flow_delay = 11\n",
		"soft_bounce = maybe\n",
		"relayhost = $myhostname\nmyhostname = a.b\n",
		"myorigin = a, b\n",
		"default_verp_delimiters = +\n",
		"default_verp_delimiters = +@\n",
		"mynetworks_style = bogus\n",
		"inet_protocols = ipx\n",
		"smtputf8_enable = perhaps\n",
		"a = ${x\nmail_name = $a\n",
		"mail_name =\n",
		"default_process_limit = 0\n",
		"meta_directory = /nonexistent\n",
		"myhostname = x\n",
		"known_tcp_ports = a, smtp=25 x, =1, 25=1, ,x=y, smtp=26, a b=1, c==2, d=\n",
		"known_tcp_ports = a=1,a=2, b = c = 3, b=4,,x=1=y\n",
		"mynetworks = 127.0.0.0/8\ninet_interfaces = 192.0.2.1\n",
		"inet_protocols =\nmynetworks_style = bogus\n",
		"mail_name = $undefined_name\n",
		"bounce_service_name = $mail_name\nmail_name = $$x\n",
	} {
		c := mk(fmt.Sprintf("gen-params-init-%02d", i), map[string][]byte{"main.cf": v(mainCF), "master.cf": nil}, "-m")
		c.Groups = map[string]bool{}
		initCases = append(initCases, c)
	}
	return append(initCases, []*corpusCase{
		mk("gen-crlf", map[string][]byte{
			"main.cf": crlf("# CRLF everywhere\ncompatibility_level = 3.6\nmyorigin = example.com\n" +
				"smtpd_banner = $myhostname\n   ESMTP\n\nuser_a = one\nrelayhost = [$user_a]:25\nempty =\n"),
			"master.cf": crlf("smtp      inet  n       -       y       -       -       smtpd\n" +
				"  -o smtpd_tls_security_level=may\n" +
				"# comment\n" +
				"relay     unix  -       -       y       -       -       smtp -o syslog_name=postfix/$service_name\n"),
		}, "-x relayhost smtpd_banner empty", "-h relayhost"),
		mk("gen-crlf-lone-cr", map[string][]byte{
			"main.cf":   v("a = one\rtwo\nmyorigin = $a\r\r\nb = x \r y\nmydomain = $b\n"),
			"master.cf": v("smtp inet n - n - - smtpd\r\n\r\n"),
		}, "-x myorigin mydomain", "-n"),
		mk("gen-control-bytes", map[string][]byte{
			"main.cf": v("tabbed =\tone\ttwo\t\nctl = a\x01b\x7fc\x1bd\nutf8 = caf\xc3\xa9 \xe2\x82\xac\nbad_utf8 = \xff\xfe\x80\n" +
				"smtpd_banner = $tabbed $ctl $utf8 $bad_utf8\nna\x01me = x\nmyorigin = $na\x01me\n"),
			"master.cf": v("smtp inet n - n - - smtpd -o smtpd_banner=\x01$utf8\x7f\n" +
				"ctl\x02svc unix - - n - - smtp\n"),
		}, "-x smtpd_banner", "-h tabbed ctl utf8 bad_utf8", "-P", "-F"),
		mk("gen-nul", map[string][]byte{
			"main.cf":   v("a = b\x00c\nmyorigin = $a\nnul\x00name = z\nd = e\n"),
			"master.cf": v("smtp inet n - n - - smtpd -o x=\x00y\n"),
		}, "-x myorigin"),
		mk("gen-huge", map[string][]byte{
			"main.cf":   v(huge),
			"master.cf": v(hugeMaster),
		}, "-x smtpd_banner", "-h big_user", "-nf"),
	}...)
}
