// Package postconf is a drop-in replacement for Postfix 3.7.11's
// postconf(1): it shows and edits main.cf and master.cf, with Postfix's
// options, output formats, warnings, fatal errors and exit codes.
//
// Run is the whole command; cmd/postconf only calls Main. Everything that
// is about configuration files as such (reading, $name expansion, the
// table of built-in parameters and their defaults, master.cf entries)
// comes from internal/maincf; this package holds what only postconf does:
// the option rules, the classification of parameters (built-in, service,
// user-defined, legacy, read-only), the unused/undefined checks, the
// output layouts and the editing modes.
//
// Fatal errors are raised inside the package with panic(*fatalError) and
// turned into "prog: fatal: TEXT" plus exit status 1 by Run; nothing else
// panics on purpose.
package postconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

const (
	mainFile         = "main.cf"
	masterFile       = "master.cf"
	defaultConfigDir = "/etc/postfix"
	configEnv        = "MAIL_CONFIG"
	stdoutBufSize    = 4096 // like Postfix's VSTREAM buffer: output is written in such chunks
)

// program is one run of postconf.
type program struct {
	name     string // argv[0]: prefix of every message
	procName string // basename of argv[0]: process_name
	pid      int
	getenv   func(string) string
	env      map[string]string // variables set by the run itself (-c)
	out      *bufio.Writer
	stderr   io.Writer
	stdin    io.Reader

	mode         int
	configDir    string
	configDirSet bool
	main         *dict                 // main.cf, -o overrides and config_directory
	params       map[string]*paramNode // every known parameter name
	master       []*masterEnt
	masterRead   bool
	namespaces   map[string]*dict // master.cf -o settings by "service/type"
	restClass    map[string]bool  // smtpd_restriction_classes names in main.cf
	computed     map[string]string
	dbmsSeen     map[string]bool // database client files already checked
}

// Main runs postconf with the process's arguments and environment and
// exits with its status.
func Main() {
	os.Exit(Run(os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// Run runs postconf: args[0] is the program name (used as the prefix of
// every message, as Postfix does), env looks up environment variables
// (MAIL_CONFIG). It returns the exit status: 0, or 1 after a fatal error.
func Run(args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) (status int) {
	if env == nil {
		env = os.Getenv
	}
	name := "postconf"
	if len(args) > 0 {
		name = args[0]
		args = args[1:]
	}
	p := &program{
		name:     name,
		procName: name[strings.LastIndexByte(name, '/')+1:],
		pid:      os.Getpid(),
		getenv:   env,
		env:      map[string]string{},
		out:      bufio.NewWriterSize(stdout, stdoutBufSize),
		stderr:   stderr,
		stdin:    stdin,
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		var f *fatalError
		var x *exitStatus
		if err, ok := r.(error); ok && errors.As(err, &f) {
			// Postfix exits without flushing standard output.
			p.message("fatal: ", f.text)
			status = 1
			return
		} else if ok && errors.As(err, &x) {
			status = x.code
			return
		}
		panic(r)
	}()
	p.run(args)
	if err := p.out.Flush(); err != nil {
		p.message("fatal: ", "write error: "+err.Error())
		return 1
	}
	return 0
}

// lookupEnv returns an environment variable, as changed by -c.
func (p *program) lookupEnv(name string) (string, bool) {
	if v, ok := p.env[name]; ok {
		return v, true
	}
	v := p.getenv(name)
	return v, v != ""
}

// message writes "prog: KIND TEXT" to standard error.
func (p *program) message(kind, text string) {
	fmt.Fprintf(p.stderr, "%s: %s%s\n", p.name, kind, maincf.Printable(text))
}

// warn prints a warning (text in Postfix's words).
func (p *program) warn(text string) { p.message("warning: ", text) }

func (p *program) warnf(format string, args ...any) { p.warn(fmt.Sprintf(format, args...)) }

// fatal stops the run with "prog: fatal: TEXT".
func (p *program) fatal(err error) {
	var f *fatalError
	if errors.As(err, &f) {
		panic(f)
	}
	panic(&fatalError{text: err.Error()})
}

// setConfigDir works out config_directory from MAIL_CONFIG, and records it
// as a main.cf setting when it comes from there (so that -n shows it).
func (p *program) setConfigDir() {
	p.configDirSet = true
	if dir, ok := p.env[configEnv]; ok {
		p.configDir = dir
	} else if dir := p.getenv(configEnv); dir != "" {
		p.configDir = dir
	} else {
		p.configDir = defaultConfigDir
		return
	}
	p.mainDict().set("config_directory", p.configDir)
}

func (p *program) mainDict() *dict {
	if p.main == nil {
		p.main = newDict()
	}
	return p.main
}

// run is postconf's main program.
func (p *program) run(args []string) {
	var ext []string // -b or -t: the bounce daemon's arguments
	paramClass := classMask
	tlsGiven := false
	check := func(letter byte, arg string) error {
		switch letter {
		case 'b', 't':
			if ext != nil {
				return fatalf("specify one of -b and -t")
			}
			if letter == 'b' {
				ext = []string{"bounce", "-SVnexpand_templates"}
			} else {
				ext = []string{"bounce", "-SVndump_templates"}
			}
		case 'c':
			p.env[configEnv] = arg
		case 'C':
			c, err := parseParamClass(arg)
			if err != nil {
				return err
			}
			paramClass = c
		case 'T':
			if tlsGiven {
				return fatalf("At most one -T <mode> option may be specified")
			}
			tlsGiven = true
		}
		return nil
	}
	opts, err := parseArgs(args, check)
	if err != nil {
		var u *usageError
		if errors.As(err, &u) {
			if u.getopt != "" {
				p.message("", u.getopt)
			}
			panic(fatalf(usageText, p.name))
		}
		p.fatal(err)
	}
	p.mode = opts.mode()
	operands := opts.Operands

	if p.mode&incompatible[0] == 0 {
		p.mode |= modeMainParam
	}
	if p.mode&modeMainOrMaster != 0 && len(operands) > 0 && strings.Contains(operands[0], "=") {
		p.mode |= modeEditConf
	}
	if err := checkModes(p.mode); err != nil {
		p.fatal(err)
	}
	if p.mode&modeEditConf != 0 && len(operands) == 0 {
		panic(fatalf("-e requires name=value argument"))
	}

	switch {
	case ext != nil:
		p.showTemplates(ext, operands)
	case p.mode&modeShowMaps != 0:
		p.showMaps()
	case p.mode&modeShowLocks != 0:
		p.showLocks()
	case p.mode&modeMasterAny != 0 && p.mode&modeEditAny == 0:
		p.readMaster(true)
		p.readParameters()
		p.setParameters(opts.Override)
		p.registerBuiltinParameters()
		p.registerServiceParameters()
		p.registerUserParameters()
		switch {
		case p.mode&modeMasterFld != 0:
			p.showMasterFields(operands)
		case p.mode&modeMasterParam != 0:
			p.showMasterParams(operands)
		default:
			p.showMasterEntries(operands)
		}
		p.flagUnusedMasterParameters()
	case p.mode&modeSASLServer != 0:
		p.showSASL(true)
	case p.mode&modeSASLClient != 0:
		p.showSASL(false)
	case p.mode&modeShowTLS != 0:
		p.showTLS(*opts.TLS)
	case p.mode&modeEditAny != 0:
		if len(operands) == 0 {
			panic(fatalf("missing service argument"))
		}
		if p.mode&modeMasterAny != 0 {
			p.editMaster(operands)
		} else {
			p.editMain(operands)
		}
	default:
		if p.mode&modeShowDefs == 0 {
			p.readParameters()
			p.setParameters(opts.Override)
		}
		p.registerBuiltinParameters()
		p.readMaster(false)
		p.registerServiceParameters()
		if p.mode&modeShowDefs == 0 {
			p.registerUserParameters()
		}
		p.showParameters(paramClass, operands)
		if p.mode&modeShowDefs == 0 {
			p.flagUnusedMainParameters()
			p.flagUnusedMasterParameters()
		}
	}
}

// mode returns the mode bits of the options given.
func (c *cli) mode() int {
	m := 0
	set := func(on bool, bit int) {
		if on {
			m |= bit
		}
	}
	set(c.SASLServer, modeSASLServer)
	set(c.SASLClient, modeSASLClient)
	set(c.ExpandTmpl, modeExpandTmpl)
	set(c.Defaults, modeShowDefs)
	set(c.Edit, modeEditConf)
	set(c.Fold, modeFoldLine)
	set(c.Fields, modeMasterFld)
	set(c.HideName, modeHideName)
	set(c.HideValue, modeHideValue)
	set(c.Locks, modeShowLocks)
	set(c.Maps, modeShowMaps)
	set(c.Master, modeMasterEntry)
	set(c.NonDefault, modeShowNonDef)
	set(len(c.Override) > 0, modeMainOver)
	set(c.MainParam, modeMainParam)
	set(c.MasterParam, modeMasterParam)
	set(c.DumpTmpl, modeDumpTmpl)
	set(c.TLS != nil, modeShowTLS)
	set(c.Eval, modeShowEval)
	set(c.Exclude, modeEditExcl)
	set(c.CommentOut, modeCommentOut)
	return m
}

// parseParamClass parses the -C argument: a list of builtin, service,
// user and all, in any case.
func parseParamClass(arg string) (int, error) {
	class := 0
	for _, word := range strings.FieldsFunc(arg, func(r rune) bool { return strings.ContainsRune(", \t\r\n", r) }) {
		switch strings.ToLower(word) {
		case "builtin":
			class |= flagBuiltin
		case "service":
			class |= flagService
		case "user":
			class |= flagUser
		case "all":
			class |= classMask
		default:
			return 0, fatalf("unknown -C option value \"%s\" in \"%s\"", word, arg)
		}
	}
	return class, nil
}

// readParameters reads main.cf into the main dictionary, with Postfix's
// warnings about overridden entries. A missing main.cf is fatal.
func (p *program) readParameters() {
	p.setConfigDir()
	file := p.configDir + "/" + mainFile
	data, err := os.ReadFile(file)
	if err != nil {
		panic(fatalf("open %s: %s", file, syserr.Text(err)))
	}
	d := p.mainDict()
	for _, ll := range maincf.ReadLogicalLines(file, data, p.warn) {
		name, value, err := maincf.SplitNameValue(ll.Text)
		if err != nil {
			panic(fatalf("%s, line %d: %s: \"%s\"", file, ll.Line, err, cString(ll.Text)))
		}
		if old, ok := d.get(name); ok && old != value {
			p.warnf("%s, line %d: overriding earlier entry: %s=%s", file, ll.Line, name, old)
		}
		d.set(name, value)
	}
}

// setParameters applies the -o name=value overrides in order.
func (p *program) setParameters(overrides []string) {
	for _, o := range overrides {
		name, value, err := maincf.SplitNameValue(o)
		if err != nil {
			panic(fatalf("invalid parameter override: %s: %s", o, err))
		}
		p.mainDict().set(name, value)
	}
}

// printList prints one word per line.
func (p *program) printList(words []string) {
	for _, w := range words {
		fmt.Fprintln(p.out, w)
	}
}

// exitStatus ends the run with a status, without a message.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// readAll reads what is left in r.
func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

// cString returns s up to its first NUL byte: the text a C program would
// print for a buffer that holds a NUL.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}
