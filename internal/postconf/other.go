package postconf

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// Map types built into Debian's Postfix 3.7.11 (postconf -m lists these
// plus the plugins named in dynamicmaps.cf).
var coreMapTypes = []string{
	"btree", "cidr", "environ", "fail", "hash", "inline", "internal", "memcache", "nis",
	"pipemap", "proxy", "randmap", "regexp", "socketmap", "static", "tcp", "texthash",
	"unionmap", "unix",
}

// Mailbox locking methods on Linux (postconf -l).
var lockMethods = []string{"flock", "fcntl", "dotlock"}

// SASL plug-in types of Debian's build (postconf -a, postconf -A).
var (
	saslServerTypes = []string{"cyrus", "dovecot"}
	saslClientTypes = []string{"cyrus"}
)

// TLS facts of Debian's Postfix 3.7.11 build (postconf -T). We link no
// OpenSSL of our own: the compile-time version is the one Debian built
// against, and the run-time version is read from the system's libcrypto,
// the library Debian's postconf would load.
const tlsCompileVersion = "OpenSSL 3.0.11 19 Sep 2023"

var (
	tlsPublicKeyAlgorithms = []string{"dsa", "ecdsa", "rsa"}
	libcryptoPaths         = []string{
		"/usr/lib/x86_64-linux-gnu/libcrypto.so.3", "/lib/x86_64-linux-gnu/libcrypto.so.3",
		"/usr/lib/aarch64-linux-gnu/libcrypto.so.3", "/lib/aarch64-linux-gnu/libcrypto.so.3",
		"/usr/lib/libcrypto.so.3", "/usr/lib64/libcrypto.so.3",
	}
	opensslVersionRE = regexp.MustCompile(`OpenSSL [0-9]+\.[0-9]+\.[0-9]+[a-z]*(-[a-z0-9]+)? +[0-9]{1,2} [A-Z][a-z]{2} [0-9]{4}`)
)

// showSASL prints the SASL plug-in types (-a: server, -A: client). They
// are a property of Postfix's smtpd(8) and smtp(8), which this project does
// not ship: the types of Debian's build are printed when that daemon is
// installed in daemon_directory; otherwise postconf says so and exits with
// status 1 (Postfix itself never reads main.cf for -a and -A; we read it
// quietly, only to find daemon_directory).
func (p *program) showSASL(server bool) {
	daemon, types, kind := "smtp", saslClientTypes, "client"
	if server {
		daemon, types, kind = "smtpd", saslServerTypes, "server"
	}
	path := p.quietDaemonDirectory() + "/" + daemon
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		panic(fatalf("cannot list SASL %s types: %s is not installed (they are those of Postfix's %s(8); this postconf ships no SASL implementation)", kind, path, daemon))
	}
	p.printList(types)
}

// quietDaemonDirectory returns daemon_directory from main.cf, or its
// default when main.cf cannot be read or expanded; it prints nothing.
func (p *program) quietDaemonDirectory() string {
	def, _ := maincf.BuiltinDefault("daemon_directory")
	dir, _ := p.lookupEnv(configEnv)
	c, err := maincf.Load(maincf.Options{ConfigDir: dir, Getenv: p.getenv, ProcessName: p.procName})
	if err != nil {
		return def
	}
	v, err := c.Get("daemon_directory")
	if err != nil || v == "" {
		return def
	}
	return v
}

// showLocks prints the mailbox locking methods.
func (p *program) showLocks() { p.printList(lockMethods) }

// showTLS prints what postconf -T MODE prints.
func (p *program) showTLS(what string) {
	switch what {
	case "compile-version":
		fmt.Fprintln(p.out, tlsCompileVersion)
	case "run-version":
		fmt.Fprintln(p.out, p.opensslRunVersion())
	case "public-key-algorithms":
		p.printList(tlsPublicKeyAlgorithms)
	default:
		p.out.Flush()
		p.warnf("unknown 'postconf -T' mode: %s", what)
		panic(&exitStatus{code: 1})
	}
}

// opensslRunVersion finds the version string of the system's libcrypto.
func (p *program) opensslRunVersion() string {
	for _, path := range libcryptoPaths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if v := opensslVersionRE.Find(data); v != nil {
			return string(v)
		}
	}
	panic(fatalf("cannot determine the OpenSSL run-time version: no libcrypto.so.3 found"))
}

// showMaps prints the supported lookup table types: the built-in ones and
// the plugins that dynamicmaps.cf (and dynamicmaps.cf.d/*) in
// $meta_directory name, sorted.
func (p *program) showMaps() {
	p.readParameters()
	p.registerBuiltinParameters()
	p.checkGlobals()
	metaDir := p.configValue("meta_directory")
	names := append([]string(nil), coreMapTypes...)
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	dyn := newDict()
	conf := metaDir + "/dynamicmaps.cf"
	p.readDynamicMaps(conf, dyn)
	confD := conf + ".d"
	if entries, err := os.ReadDir(confD); err == nil {
		for _, e := range entries {
			p.readDynamicMaps(confD+"/"+e.Name(), dyn)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		p.warnf("%s: directory open failed: %s", confD, syserr.Text(err))
	}
	for _, n := range dyn.keys() {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	p.printList(names)
}

// readDynamicMaps reads one dynamicmaps.cf file into dyn (type → .so).
func (p *program) readDynamicMaps(path string, dyn *dict) {
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			panic(fatalf("%s: file open failed: %s", path, syserr.Text(err)))
		}
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		panic(fatalf("%s: fstat failed; %s", path, syserr.Text(err)))
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && (sys.Uid != 0 || st.Mode().Perm()&0o022 != 0) {
		p.warnf("%s: file is owned or writable by non-root users -- skipping this file", path)
		return
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for lineno := 1; sc.Scan(); lineno++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(fields) != 3 && len(fields) != 4 {
			panic(fatalf("%s, line %d: Expected \"dict-type .so-name dict-function [mkmap-function]\"", path, lineno))
		}
		if c := fields[0][0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			panic(fatalf("%s, line %d: unsupported syntax \"%s\"", path, lineno, fields[0]))
		}
		if _, dup := dyn.get(fields[0]); dup {
			p.warnf("%s: ignoring duplicate entry for \"%s\"", path, fields[0])
			continue
		}
		dyn.set(fields[0], fields[1])
	}
}

// configValue returns the expanded value of a parameter from main.cf or
// its default.
func (p *program) configValue(name string) string {
	v, _ := p.lookupValue(p.mode&^modeShowDefs, name, nil, nil)
	return p.expandValue(p.mode&^modeShowDefs, v, nil)
}

// showTemplates runs Postfix's bounce daemon to print the delivery status
// notification templates (postconf -b and -t), exactly as postconf does:
// $daemon_directory/bounce -SVnexpand_templates (or -SVndump_templates),
// with the template file and queue_directory=. as -o overrides.
func (p *program) showTemplates(argv, operands []string) {
	if len(operands) > 0 {
		if len(operands) > 1 {
			panic(fatalf("options -b and -t require at most one template file"))
		}
		argv = append(argv, "-o", "bounce_template_file="+operands[0])
	}
	argv = append(argv, "-o", "queue_directory=.")
	p.readParameters()
	p.registerBuiltinParameters()
	p.checkGlobals()
	path := p.configValue("daemon_directory") + "/" + argv[0]
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		// Postfix would fail in execv(); say why the mode needs it.
		text := "not a regular file"
		if err != nil {
			text = syserr.Text(err)
		}
		panic(fatalf("execv %s: %s (postconf -b and -t run Postfix's bounce(8), which this project does not ship)", path, text))
	}
	cmd := exec.Command(path)
	cmd.Args = argv
	cmd.Env = p.childEnv()
	p.out.Flush()
	cmd.Stdin = p.stdin
	cmd.Stdout = p.out
	cmd.Stderr = p.stderr
	err := cmd.Run()
	p.out.Flush()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return
	case errors.As(err, &exitErr):
		code := exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		panic(&exitStatus{code: code})
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		panic(fatalf("execv %s: %s", path, syserr.Text(err)))
	}
}

// childEnv is the environment of a program that postconf runs: its own,
// with MAIL_CONFIG as -c set it.
func (p *program) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, configEnv+"=") {
			env = append(env, kv)
		}
	}
	if v, ok := p.lookupEnv(configEnv); ok {
		env = append(env, configEnv+"="+v)
	}
	return env
}
