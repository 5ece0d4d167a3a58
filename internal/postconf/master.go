package postconf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// Field numbers and names of a master.cf entry.
const (
	fldService = iota
	fldType
	fldPrivate
	fldUnpriv
	fldChroot
	fldWakeup
	fldMaxproc
	fldCommand
	minMasterFields = 8
	fldWildcard     = -1
)

var masterFieldNames = []string{
	"service", "type", "private", "unprivileged", "chroot", "wakeup", "process_limit", "command",
}

// masterBlanks separates master.cf fields.
const masterBlanks = " \t\r\n"

// daemonOptsWithValue lists the daemon options that take a value.
const daemonOptsWithValue = "o"

// masterEnt is one master.cf entry as postconf sees it: its fields, the
// daemon arguments in normalised form, and its parameter name space.
type masterEnt struct {
	entry      maincf.MasterEntry // as parsed
	nameSpace  string             // "service/type"
	argv       []string           // fields 0-6, the command, its arguments
	allParams  *dict              // the entry's -o settings (shared by entries with the same name space), or nil
	roParams   *dict              // process_name and service_name as the daemon would see them
	validNames map[string]bool    // user-defined names validated in this name space
}

// checkMasterEntry validates the fixed fields of argv like postconf does
// after an edit; raw is the text quoted in the error message.
func checkMasterEntry(argv []string, raw string) {
	raw = strings.ReplaceAll(raw, "\n", " ")
	for f := fldType; f <= fldMaxproc; f++ {
		if err := maincf.CheckMasterField(f, argv[f]); err != nil {
			panic(fatalf("%s in \"%s\"", err, raw))
		}
	}
}

// newMasterEnt builds postconf's view of a parsed entry.
func newMasterEnt(e maincf.MasterEntry) *masterEnt {
	argv := e.Argv()
	m := &masterEnt{
		entry:     e,
		nameSpace: argv[fldService] + "/" + argv[fldType],
		argv:      argv,
		roParams:  newDict(),
	}
	procName := argv[fldCommand]
	if i := strings.LastIndexByte(procName, '/'); i >= 0 {
		procName = procName[i+1:]
	}
	m.roParams.set("process_name", procName)
	if procName != argv[fldService] {
		m.roParams.set("service_name", argv[fldService])
	} else {
		m.roParams.set("service_name", procName)
	}
	return m
}

// parseMasterEntry parses one logical master.cf line. A wrong field count
// is returned as the text "bad field count"; other problems are fatal.
func (p *program) parseMasterEntry(buf string) (*masterEnt, string) {
	e, err := maincf.ParseMasterEntry(buf, p.warn)
	if errors.Is(err, maincf.ErrBadFieldCount) {
		return nil, err.Error()
	}
	if err != nil {
		panic(&fatalError{text: err.Error()})
	}
	return newMasterEnt(e), ""
}

// takesValue reports whether the daemon option arg takes the next argument
// as its value: "-o", and also a lone "-" (postconf looks up the byte after
// the '-' in its list of such options, and finds the terminating NUL).
func takesValue(arg string) bool {
	return len(arg) == 1 || strings.IndexByte(daemonOptsWithValue, arg[1]) >= 0
}

// readMaster reads master.cf. When it cannot be opened, that is fatal with
// failOnOpen, else a warning and an empty table.
func (p *program) readMaster(failOnOpen bool) {
	p.masterRead = true
	if !p.configDirSet {
		p.setConfigDir()
	}
	file := p.configDir + "/" + masterFile
	data, err := os.ReadFile(file)
	if err != nil {
		text := fmt.Sprintf("open %s: %s", file, syserr.Text(err))
		if failOnOpen {
			panic(fatalf("%s", text))
		}
		p.warnf("%s", text)
		return
	}
	for _, ll := range maincf.ReadLogicalLines(file, data, p.warn) {
		m, complaint := p.parseMasterEntry(ll.Text)
		if complaint != "" {
			panic(fatalf("file %s: line %d: %s", file, ll.Line, complaint))
		}
		p.master = append(p.master, m)
	}
}

// printMasterEntry writes one entry in master.cf format: the eight fixed
// fields at their usual columns, then the command arguments. With
// modeFoldLine long lines are folded, and each "-o name=value" goes on a
// line of its own.
func (p *program) printMasterEntry(w io.Writer, mode int, m *masterEnt) {
	columns := []int{0, 11, 17, 25, 33, 41, 49, 57}
	var b strings.Builder
	lineLen := 0
	add := func(s string) {
		b.WriteString(s)
		lineLen += len(s)
	}
	field := 0
	for ; field < minMasterFields; field++ {
		if lineLen > 0 {
			for {
				add(" ")
				if lineLen >= columns[field] {
					break
				}
			}
		}
		add(m.argv[field])
	}
	p.writeMasterArgs(&b, &lineLen, mode, m, field, 3)
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// printMasterField writes one "service/type/field = value" line.
func (p *program) printMasterField(w io.Writer, mode int, m *masterEnt, field int) {
	var b strings.Builder
	lineLen := 0
	add := func(s string) {
		b.WriteString(s)
		lineLen += len(s)
	}
	argv := m.argv
	if mode&modeHideName == 0 {
		add(argv[fldService] + "/" + argv[fldType] + "/" + masterFieldNames[field])
	}
	if mode&(modeHideName|modeHideValue) == 0 {
		add(" = ")
	}
	if mode&modeHideValue == 0 {
		if lineLen > 0 && lineLen+len(argv[field]) > lineLimit {
			b.WriteString("\n" + indentText)
			lineLen = len(indentText)
		}
		add(argv[field])
	}
	if field == fldCommand && mode&modeHideValue == 0 {
		p.writeMasterArgs(&b, &lineLen, mode, m, field+1, 1)
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// writeMasterArgs appends the command arguments argv[start:] of m to b as
// postconf lays them out: "-o name=value" pairs stay together and keep their
// value in braces when it has blanks, other arguments with blanks get braces
// once the options end, and with modeFoldLine long lines wrap onto indented
// continuation lines. optExtra is what an option's value adds to the
// length estimate besides its own text (the -M and -F layouts differ).
func (p *program) writeMasterArgs(b *strings.Builder, lineLen *int, mode int, m *masterEnt, start, optExtra int) {
	add := func(s string) {
		b.WriteString(s)
		*lineLen += len(s)
	}
	inOptions := true
	argv := m.argv
	for field := start; field < len(argv); field++ {
		arg := argv[field]
		argLen := len(arg)
		aval := ""
		haveVal := false
		parens := false
		if inOptions {
			if arg == "" || arg[0] != '-' || arg == "--" {
				inOptions = false
			} else if takesValue(arg) && field+1 < len(argv) {
				aval, haveVal = argv[field+1], true
				*lineLen = lineLimit
				if arg == "-o" && mode&modeShowEval != 0 {
					aval = p.expandValue(mode, aval, m)
				}
				argLen += len(aval) + optExtra
				if strings.ContainsAny(aval, masterBlanks) {
					parens = true
					argLen += 2
				}
			}
		} else {
			parens = strings.ContainsAny(arg, masterBlanks)
		}
		if *lineLen > len(indentText) {
			if mode&modeFoldLine == 0 || *lineLen+1+argLen < lineLimit {
				add(" ")
			} else {
				b.WriteString("\n" + indentText)
				*lineLen = len(indentText)
			}
		}
		if !inOptions && parens {
			add("{")
		}
		add(arg)
		if !inOptions && parens {
			add("}")
		}
		if haveVal {
			add(" ")
			if parens {
				add("{")
			}
			add(aval)
			if parens {
				add("}")
			}
			field++
			*lineLen = lineLimit
		}
	}
}

// servicePattern is a parsed "service[/type[/more]]" request; "*" matches
// anything.
type servicePattern []string

// parseServicePattern splits pattern on '/' into between min and max
// components (empty components are dropped, as Postfix's argv_split
// does), filling missing ones with "*". It returns nil for a pattern that
// starts with '/', has the wrong number of components or has a '*' that is
// not a whole component.
func parseServicePattern(pattern string, min, max int) servicePattern {
	if strings.HasPrefix(pattern, "/") {
		return nil
	}
	var parts []string
	for _, s := range strings.Split(pattern, "/") {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) < min || len(parts) > max {
		return nil
	}
	for _, s := range parts {
		if s != "*" && strings.Contains(s, "*") {
			return nil
		}
	}
	for len(parts) < max {
		parts = append(parts, "*")
	}
	return parts
}

func matchString(pattern, s string) bool { return pattern == "*" || pattern == s }

// matches reports whether the pattern's service and type match.
func (sp servicePattern) matches(service, typ string) bool {
	return matchString(sp[0], service) && matchString(sp[1], typ)
}

// parseFieldPattern returns the field number of a -F field name, or
// fldWildcard for "*".
func parseFieldPattern(name string) int {
	if name == "*" {
		return fldWildcard
	}
	for i, n := range masterFieldNames {
		if n == name {
			return i
		}
	}
	panic(fatalf("invalid service attribute name: \"%s\"", name))
}

// masterRequest is one command-line filter of -M, -F or -P.
type masterRequest struct {
	raw     string
	pattern servicePattern
	field   int
	param   string
	matched int
}

func (p *program) parseMasterRequests(args []string, max int, usage string, withField bool) []*masterRequest {
	reqs := make([]*masterRequest, 0, len(args))
	for _, a := range args {
		sp := parseServicePattern(a, 1, max)
		if sp == nil {
			panic(fatalf("%s", usage))
		}
		r := &masterRequest{raw: a, pattern: sp}
		if max == 3 {
			r.param = sp[2]
		}
		if withField {
			r.field = parseFieldPattern(r.param)
		}
		reqs = append(reqs, r)
	}
	return reqs
}

func (p *program) warnUnmatched(reqs []*masterRequest) {
	for _, r := range reqs {
		if r.matched == 0 {
			p.warnf("unmatched request: \"%s\"", r.raw)
		}
	}
}

// showMasterEntries prints master.cf entries (postconf -M).
func (p *program) showMasterEntries(args []string) {
	reqs := p.parseMasterRequests(args, 2, "-M option requires service_name[/type]", false)
	for _, m := range p.master {
		if len(reqs) == 0 {
			p.printMasterEntry(p.out, p.mode, m)
			continue
		}
		for _, r := range reqs {
			if r.pattern.matches(m.argv[fldService], m.argv[fldType]) {
				r.matched++
				p.printMasterEntry(p.out, p.mode, m)
			}
		}
	}
	p.warnUnmatched(reqs)
}

// showMasterFields prints master.cf fields (postconf -F).
func (p *program) showMasterFields(args []string) {
	reqs := p.parseMasterRequests(args, 3, "-F option requires service_name[/type[/field]]", true)
	for _, m := range p.master {
		if len(reqs) == 0 {
			for f := fldService; f <= fldCommand; f++ {
				p.printMasterField(p.out, p.mode, m, f)
			}
			continue
		}
		for _, r := range reqs {
			if !r.pattern.matches(m.argv[fldService], m.argv[fldType]) {
				continue
			}
			r.matched++
			if r.field == fldWildcard {
				for f := fldService; f <= fldCommand; f++ {
					p.printMasterField(p.out, p.mode, m, f)
				}
			} else {
				p.printMasterField(p.out, p.mode, m, r.field)
			}
		}
	}
	p.warnUnmatched(reqs)
}

// printMasterParam prints one "service/type/name = value" line.
func (p *program) printMasterParam(m *masterEnt, name, value string) {
	switch {
	case p.mode&modeHideValue != 0:
		printLine(p.out, p.mode, m.nameSpace+"/"+name)
	default:
		if p.mode&modeShowEval != 0 {
			value = p.expandValue(p.mode, value, m)
		}
		if p.mode&modeHideName == 0 {
			printLine(p.out, p.mode, m.nameSpace+"/"+name+" = "+value)
		} else {
			printLine(p.out, p.mode, value)
		}
	}
}

// printMasterAllParams prints all -o settings of an entry, sorted by name.
func (p *program) printMasterAllParams(m *masterEnt) {
	names := m.allParams.keys()
	sort.Strings(names)
	for _, name := range names {
		value, _ := m.allParams.get(name)
		p.printMasterParam(m, name, value)
	}
}

// showMasterParams prints master.cf -o settings (postconf -P).
func (p *program) showMasterParams(args []string) {
	reqs := p.parseMasterRequests(args, 3, "-P option requires service_name[/type[/parameter]]", false)
	for _, m := range p.master {
		if m.allParams == nil {
			continue
		}
		if len(reqs) == 0 {
			p.printMasterAllParams(m)
			continue
		}
		for _, r := range reqs {
			if !r.pattern.matches(m.argv[fldService], m.argv[fldType]) {
				continue
			}
			if r.param == "*" {
				p.printMasterAllParams(m)
				r.matched++
			} else if value, ok := m.allParams.get(r.param); ok {
				p.printMasterParam(m, r.param, value)
				r.matched++
			}
		}
	}
	p.warnUnmatched(reqs)
}
