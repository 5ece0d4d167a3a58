package postconf

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// optionString is postconf's getopt(3) option string in Postfix 3.7.11.
// Letters followed by ':' take an argument. Every letter is accepted by
// the scanner, but 'E' has no meaning and leads to the usage message.
const optionString = "aAbc:C:deEfFhHlmMno:pPtT:vxX#"

// usageText is the usage message, printed as a fatal error; "%s" is the
// program name. The doubled "-c" entry is upstream's.
const usageText = "usage: %s" +
	" [-a (server SASL types)]" +
	" [-A (client SASL types)]" +
	" [-b (bounce templates)]" +
	" [-c config_dir]" +
	" [-c param_class]" +
	" [-d (parameter defaults)]" +
	" [-e (edit configuration)]" +
	" [-f (fold lines)]" +
	" [-F (master.cf fields)]" +
	" [-h (no names)]" +
	" [-H (no values)]" +
	" [-l (lock types)]" +
	" [-m (map types)]" +
	" [-M (master.cf)]" +
	" [-n (non-default parameters)]" +
	" [-o name=value (override parameter value)]" +
	" [-p (main.cf, default)]" +
	" [-P (master.cf parameters)]" +
	" [-t (bounce templates)]" +
	" [-T compile-version|run-version|public-key-algorithms]" +
	" [-v (verbose)]" +
	" [-x (expand parameter values)]" +
	" [-X (exclude)]" +
	" [-# (comment-out)]" +
	" [name...]"

// cli is the command line after getopt-style scanning, bound by kong.
// The long names exist only because kong requires them; users never see
// them: the getopt scanner (scanArgs) translates each short option into
// its long form before kong parses the result.
type cli struct {
	SASLServer  bool     `name:"sasl-server"`
	SASLClient  bool     `name:"sasl-client"`
	ExpandTmpl  bool     `name:"expand-templates"`
	ConfigDir   *string  `name:"config-dir"`
	ParamClass  []string `name:"param-class" sep:"none"`
	Defaults    bool     `name:"defaults"`
	Edit        bool     `name:"edit"`
	Ignored     bool     `name:"ignored-e"`
	Fold        bool     `name:"fold"`
	Fields      bool     `name:"fields"`
	HideName    bool     `name:"hide-name"`
	HideValue   bool     `name:"hide-value"`
	Locks       bool     `name:"locks"`
	Maps        bool     `name:"maps"`
	Master      bool     `name:"master"`
	NonDefault  bool     `name:"non-default"`
	Override    []string `name:"override" sep:"none"`
	MainParam   bool     `name:"main"`
	MasterParam bool     `name:"master-params"`
	DumpTmpl    bool     `name:"dump-templates"`
	TLS         *string  `name:"tls"`
	Verbose     int      `name:"verbose" type:"counter"`
	Eval        bool     `name:"expand"`
	Exclude     bool     `name:"exclude"`
	CommentOut  bool     `name:"comment-out"`
	Operands    []string `arg:"" optional:"" name:"name"`
}

// longNames maps each option letter to the kong flag it sets.
var longNames = map[byte]string{
	'a': "sasl-server", 'A': "sasl-client", 'b': "expand-templates",
	'c': "config-dir", 'C': "param-class", 'd': "defaults", 'e': "edit",
	'E': "ignored-e", 'f': "fold", 'F': "fields", 'h': "hide-name",
	'H': "hide-value", 'l': "locks", 'm': "maps", 'M': "master",
	'n': "non-default", 'o': "override", 'p': "main", 'P': "master-params",
	't': "dump-templates", 'T': "tls", 'v': "verbose", 'x': "expand",
	'X': "exclude", '#': "comment-out",
}

// fatalError is a "prog: fatal: TEXT" condition; the command exits 1.
type fatalError struct{ text string }

func (e *fatalError) Error() string { return e.text }

func fatalf(format string, args ...any) error {
	return &fatalError{text: fmt.Sprintf(format, args...)}
}

// usageError asks for the usage message, optionally preceded by getopt's
// own complaint (printed as "prog: complaint").
type usageError struct{ getopt string }

func (e *usageError) Error() string { return "usage" }

// scanArgs applies getopt(3) with Postfix's "+" semantics to args (without
// the program name): options end at the first operand or at "--", options
// may be bundled ("-nhc dir"), and an option's argument is the rest of the
// bundle or else the next word, whatever it looks like ("-c -n" takes
// "-n"). It returns the equivalent kong command line. Problems that
// Postfix reports while scanning (as opposed to after it) are returned in
// scanning order, so the first one wins just as it does in postconf.
func scanArgs(args []string, check func(letter byte, arg string) error) ([]string, error) {
	var out []string
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		for j := 1; j < len(arg); j++ {
			c := arg[j]
			k := strings.IndexByte(optionString, c)
			if k < 0 || c == ':' {
				return nil, &usageError{getopt: fmt.Sprintf("invalid option -- '%c'", c)}
			}
			if k+1 < len(optionString) && optionString[k+1] == ':' {
				var val string
				switch {
				case j+1 < len(arg):
					val = arg[j+1:]
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					return nil, &usageError{getopt: fmt.Sprintf("option requires an argument -- '%c'", c)}
				}
				if err := check(c, val); err != nil {
					return nil, err
				}
				out = append(out, "--"+longNames[c]+"="+val)
				break
			}
			if err := check(c, ""); err != nil {
				return nil, err
			}
			out = append(out, "--"+longNames[c])
		}
	}
	out = append(out, "--")
	return append(out, args[i:]...), nil
}

// parseArgs turns postconf's command line into a cli. check is called for
// every option in order (see scanArgs).
func parseArgs(args []string, check func(letter byte, arg string) error) (*cli, error) {
	kargs, err := scanArgs(args, check)
	if err != nil {
		return nil, err
	}
	var c cli
	parser, err := kong.New(&c, kong.Name("postconf"), kong.NoDefaultHelp(),
		kong.Exit(func(int) {}))
	if err != nil {
		return nil, fmt.Errorf("postconf: building the option parser: %w", err)
	}
	if _, err := parser.Parse(kargs); err != nil {
		// The scanner already rejected everything getopt rejects; kong
		// only sees well-formed long options.
		return nil, fmt.Errorf("postconf: option parser: %w", err)
	}
	if c.Ignored {
		// -E is in postconf's option string but has no handler.
		return nil, &usageError{}
	}
	return &c, nil
}
