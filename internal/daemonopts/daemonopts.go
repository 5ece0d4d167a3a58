// Package daemonopts parses the command line that Postfix's master(8) gives
// to a single-threaded service daemon such as qmqpd(8) or smtpd(8): the
// getopt string "cdDi:lm:n:o:r:s:St:uvVz", with Postfix's meanings and
// Postfix's error texts.
//
// Flags is meant to be embedded in a command's kong grammar, next to the
// command's own long options. Check validates argv in getopt order first,
// so that errors come out exactly as Postfix words them.
package daemonopts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
)

// optstring is the getopt specification of single_server daemons.
const optstring = "cdDi:lm:n:o:r:s:St:uvVz"

// Flags holds the generic daemon options. Field tags drive kong.
type Flags struct {
	Chroot       bool     `short:"c" name:"pf-chroot" hidden:"" help:"Chroot to queue_directory."`
	NoDetach     bool     `short:"d" name:"pf-no-detach" hidden:"" help:"Do not detach; allow running from a terminal."`
	Debugger     bool     `short:"D" name:"pf-debug" hidden:"" help:"Run debugger_command."`
	MaxIdle      string   `short:"i" name:"pf-max-idle" hidden:"" help:"Set max_idle."`
	Alone        bool     `short:"l" name:"pf-alone" hidden:"" help:"Process limit is 1: no accept lock."`
	MaxUse       string   `short:"m" name:"pf-max-use" hidden:"" help:"Set max_use."`
	ServiceName  string   `short:"n" name:"pf-service" hidden:"" help:"Service name."`
	Override     []string `short:"o" sep:"none" name:"pf-override" hidden:"" help:"Override a main.cf parameter (name=value)."`
	Retire       int      `short:"r" name:"pf-retire" hidden:"" help:"Retirement time in seconds."`
	Sockets      int      `short:"s" name:"pf-sockets" hidden:"" default:"1" help:"Number of listening sockets from fd 6."`
	Stdio        bool     `short:"S" name:"pf-stdio" hidden:"" help:"Serve one connection on stdin/stdout."`
	Transport    string   `short:"t" name:"pf-transport" hidden:"" help:"Transport type: inet, unix or pass."`
	Unprivileged bool     `short:"u" name:"pf-unprivileged" hidden:"" help:"Drop to mail_owner privileges."`
	Verbose      int      `short:"v" name:"pf-verbose" hidden:"" type:"counter" help:"More verbose logging."`
	Stderr       bool     `short:"V" name:"pf-stderr" hidden:"" help:"Also log to stderr."`
	ZeroLimit    bool     `short:"z" name:"pf-zero-limit" hidden:"" help:"Process limit is 0."`
}

// Check walks args (without the program name) as Postfix's getopt loop does.
// It returns the parameter updates of -i (max_idle), -m (max_use) and -o,
// as "name=value" in command-line order (a later one wins), or the first
// error in Postfix's words: "invalid option: X" for an
// unknown letter or a missing argument, and the texts for bad -o, -r and -s
// values. Long options ("--name", "--name=value") are skipped; longWithValue
// lists those of them that take a separate value argument. Option parsing
// stops at the first non-option argument or at "--".
func Check(args []string, longWithValue map[string]bool) ([]string, error) {
	var updates []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return updates, nil
		}
		if strings.HasPrefix(a, "--") {
			if !strings.Contains(a, "=") && longWithValue[strings.TrimPrefix(a, "--")] {
				i++
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			k := strings.IndexByte(optstring, c)
			if k < 0 || c == ':' {
				return nil, fmt.Errorf("invalid option: %c", c)
			}
			if k+1 >= len(optstring) || optstring[k+1] != ':' {
				continue
			}
			var val string
			if j+1 < len(a) {
				val = a[j+1:]
			} else if i+1 < len(args) {
				i++
				val = args[i]
			} else {
				return nil, fmt.Errorf("invalid option: %c", c)
			}
			if err := checkValue(c, val); err != nil {
				return nil, err
			}
			switch c {
			case 'i':
				updates = append(updates, "max_idle="+val)
			case 'm':
				updates = append(updates, "max_use="+val)
			case 'o':
				name, value, _ := maincf.SplitNameValue(val)
				updates = append(updates, name+"="+value)
			}
			break
		}
	}
	return updates, nil
}

// checkValue applies the value checks Postfix makes while it parses options.
func checkValue(c byte, val string) error {
	switch c {
	case 'o':
		if _, _, err := maincf.SplitNameValue(val); err != nil {
			return fmt.Errorf("invalid \"-o %s\" option value: %s", val, err)
		}
	case 'r':
		if atoi(val) <= 0 {
			return fmt.Errorf("invalid retirement time: %s", val)
		}
	case 's':
		if atoi(val) <= 0 {
			return fmt.Errorf("invalid socket_count: %s", val)
		}
	}
	return nil
}

// atoi mimics C's atoi: leading blanks, optional sign, digits; 0 otherwise.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0
	}
	return n
}

// TransportKind is a validated -t value.
type TransportKind string

// Transport types master(8) passes with -t.
const (
	Inet TransportKind = "inet"
	Unix TransportKind = "unix"
	Pass TransportKind = "pass"
)

// TransportType checks -t as Postfix does (case-insensitively) once the
// configuration is loaded; with -S no transport is needed.
func (f *Flags) TransportType() (TransportKind, error) {
	if f.Stdio {
		return "", nil
	}
	if f.Transport == "" {
		return "", fmt.Errorf("no transport type specified")
	}
	switch strings.ToLower(f.Transport) {
	case "inet":
		return Inet, nil
	case "unix":
		return Unix, nil
	case "pass":
		return Pass, nil
	}
	return "", fmt.Errorf("unsupported transport type: %s", f.Transport)
}

// Generation parses master's GENERATION environment value as Postfix does:
// it must be all decimal digits (else "bad generation: V"), and is then read
// as octal with strtoul, which stops at the first 8 or 9. present is false
// when the variable is not set at all (generation 0).
func Generation(v string, present bool) (uint32, error) {
	if !present {
		return 0, nil
	}
	if v == "" {
		return 0, fmt.Errorf("bad generation: %s", v)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("bad generation: %s", v)
		}
	}
	var g uint64
	for i := 0; i < len(v) && v[i] <= '7'; i++ {
		if g > (^uint64(0))>>3 {
			g = ^uint64(0) // strtoul saturates at ULONG_MAX
			break
		}
		g = g<<3 | uint64(v[i]-'0')
	}
	return uint32(g), nil
}
