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

// cfLines reads a configuration file line by line (each line with its
// newline, if any) and copies comment, blank and all-white-space lines
// straight to the output, as Postfix's editors do.
type cfLines struct {
	src    *bufio.Reader
	dst    io.Writer
	lineno int
}

// isInfo returns the offset of the first non-space byte of line, or -1 when
// the line is a comment or has no content (then it has been copied).
func (c *cfLines) isInfo(line string) int {
	i := 0
	for i < len(line) && isSpaceByte(line[i]) {
		i++
	}
	if i == len(line) || line[i] == '#' {
		io.WriteString(c.dst, line)
		return -1
	}
	return i
}

// next returns the next content line and the offset of its first
// non-space byte; ok is false at the end of the file.
func (c *cfLines) next() (line string, start int, ok bool) {
	for {
		line, err := c.src.ReadString('\n')
		if line == "" && err != nil {
			if !errors.Is(err, io.EOF) {
				panic(fatalf("read: %s", syserr.Text(err)))
			}
			return "", 0, false
		}
		c.lineno++
		if start := c.isInfo(line); start >= 0 {
			return line, start, true
		}
	}
}

// gobble returns first followed by the content of the lines that continue
// it. Comment and blank lines among them are copied to the output at once;
// the line counter is not advanced (as in Postfix).
func (c *cfLines) gobble(first string) string {
	full := first
	for {
		b, err := c.src.Peek(1)
		if err != nil || (b[0] != '#' && !isSpaceByte(b[0])) {
			return full
		}
		line, err := c.src.ReadString('\n')
		if line == "" && err != nil {
			return full
		}
		if c.isInfo(line) >= 0 {
			full += line
		}
	}
}

// startEdit opens the temporary file for editing path and the original
// for reading.
func (p *program) startEdit(path string) (*maincf.EditFile, *os.File) {
	ep, err := maincf.OpenEditFile(path, 0o644)
	if err != nil {
		p.fatal(err)
	}
	src, err := os.Open(path)
	if err != nil {
		ep.Abort()
		panic(fatalf("open %s for reading: %s", path, syserr.Text(err)))
	}
	return ep, src
}

func (p *program) finishEdit(path string, ep *maincf.EditFile, src *os.File, dst *bufio.Writer) {
	if err := src.Close(); err != nil {
		panic(fatalf("read %s: %s", path, syserr.Text(err)))
	}
	if err := dst.Flush(); err != nil {
		ep.Abort()
		panic(fatalf("close %s%s: %s", path, maincf.EditFileSuffix, syserr.Text(err)))
	}
	if err := ep.Commit(); err != nil {
		p.fatal(err)
	}
}

// mainEdit is one request of postconf -e, -X or -#.
type mainEdit struct {
	name  string
	value string
	found int
}

// editMain edits main.cf: -e replaces or appends name = value, -X removes
// entries, -# comments them out. Names that are not in the file are
// appended in command-line order.
func (p *program) editMain(args []string) {
	var reqs []*mainEdit
	byName := map[string]*mainEdit{}
	for _, arg := range args {
		if strings.Contains(arg, "\n") {
			panic(fatalf("-e, -X, or -# accepts no multi-line input"))
		}
		cp := strings.TrimLeft(arg, " \t\n\r\v\f")
		if strings.HasPrefix(cp, "#") {
			panic(fatalf("-e, -X, or -# accepts no comment input"))
		}
		req := &mainEdit{}
		if p.mode&modeEditConf != 0 {
			name, value, err := maincf.SplitNameValue(cp)
			if err != nil {
				panic(fatalf("%s: \"%s\"", err, cp))
			}
			req.name, req.value = name, value
		} else {
			if cp == "" {
				panic(fatalf("-X or -# requires non-blank parameter names"))
			}
			if strings.Contains(cp, "=") {
				panic(fatalf("-X or -# requires parameter names without value"))
			}
			req.name = strings.TrimRight(cp, " \t\n\r\v\f")
		}
		if old := byName[req.name]; old != nil {
			if p.mode&modeEditConf != 0 {
				p.warnf("ignoring earlier request: '%s = %s'", old.name, old.value)
			} else {
				p.warnf("ignoring earlier request: '%s'", old.name)
			}
			for i, r := range reqs {
				if r == old {
					reqs = append(reqs[:i:i], reqs[i+1:]...)
					break
				}
			}
		}
		byName[req.name] = req
		reqs = append(reqs, req)
	}

	p.setConfigDir()
	path := p.configDir + "/" + mainFile
	ep, src := p.startEdit(path)
	dst := bufio.NewWriter(ep)
	lines := &cfLines{src: bufio.NewReader(src), dst: dst}
	var current *mainEdit
	for {
		line, start, ok := lines.next()
		if !ok {
			break
		}
		if start > 0 {
			switch {
			case current == nil:
				dst.WriteString(line)
			case p.mode&modeCommentOut != 0:
				dst.WriteString("#" + line)
			}
			continue
		}
		key := line[:strings.IndexAny(line+"=", " \t\r\n=")]
		current = byName[key]
		if current == nil {
			dst.WriteString(line)
			continue
		}
		current.found++
		if current.found == 2 {
			p.warnf("%s: multiple entries for \"%s\"", path, key)
		}
		switch {
		case p.mode&modeEditConf != 0:
			fmt.Fprintf(dst, "%s = %s\n", key, current.value)
		case p.mode&modeCommentOut != 0:
			dst.WriteString("#" + line)
		}
	}
	if p.mode&modeEditConf != 0 {
		for _, r := range reqs {
			if r.found == 0 {
				fmt.Fprintf(dst, "%s = %s\n", r.name, r.value)
			}
		}
	}
	p.finishEdit(path, ep, src, dst)
}

// masterEdit is one request of postconf -Me, -MX, -M#, -Fe, -Pe or -PX.
type masterEdit struct {
	raw     string
	pattern servicePattern
	field   int
	param   string
	value   string
	matched int
}

const masterEditOpts = "-Me, -Fe, -Pe, -X, or -#"

// editMaster edits master.cf entries, fields or -o parameters.
func (p *program) editMaster(args []string) {
	edit := p.mode&modeEditConf != 0
	reqs := make([]*masterEdit, 0, len(args))
	for _, arg := range args {
		req := &masterEdit{raw: arg}
		if strings.Contains(arg, "\n") {
			panic(fatalf("%s accept no multi-line input", masterEditOpts))
		}
		cp := strings.TrimLeft(arg, " \t\n\r\v\f")
		if strings.HasPrefix(cp, "#") {
			panic(fatalf("%s accept no comment input", masterEditOpts))
		}
		var pattern string
		if edit {
			name, value, err := maincf.SplitNameValue(cp)
			if err != nil {
				panic(fatalf("%s: \"%s\"", err, arg))
			}
			pattern, req.value = name, value
		} else {
			if strings.Contains(cp, "=") {
				panic(fatalf("-X or -# requires names without value"))
			}
			pattern = strings.TrimRight(cp, " \t\n\r\v\f")
		}
		switch {
		case p.mode&modeMasterEntry != 0:
			if req.pattern = parseServicePattern(pattern, 2, 2); req.pattern == nil {
				panic(fatalf("-Me, -MX or -M# requires service_name/type"))
			}
		case p.mode&modeMasterFld != 0:
			if req.pattern = parseServicePattern(pattern, 3, 3); req.pattern == nil {
				panic(fatalf("-Fe or -FX requires service_name/type/field_name"))
			}
			req.field = parseFieldPattern(req.pattern[2])
			if req.field == fldWildcard {
				panic(fatalf("-Fe does not accept wild-card field name"))
			}
			if edit && req.field < fldCommand && strings.ContainsAny(req.value, masterBlanks) {
				panic(fatalf("-Fe does not accept whitespace in non-command field"))
			}
		default:
			if req.pattern = parseServicePattern(pattern, 3, 3); req.pattern == nil {
				panic(fatalf("-Pe or -PX requires service_name/type/parameter"))
			}
			req.param = req.pattern[2]
			if req.param == "*" {
				panic(fatalf("-Pe does not accept wild-card parameter name"))
			}
			if edit && strings.ContainsAny(req.value, masterBlanks) {
				panic(fatalf("-Pe does not accept whitespace in parameter value"))
			}
		}
		reqs = append(reqs, req)
	}

	p.setConfigDir()
	path := p.configDir + "/" + masterFile
	ep, src := p.startEdit(path)
	dst := bufio.NewWriter(ep)
	lines := &cfLines{src: bufio.NewReader(src), dst: dst}
	wholeEntries := p.mode&modeMasterEntry != 0 && edit
	matched := false
	for {
		line, start, ok := lines.next()
		if !ok {
			break
		}
		if start > 0 {
			switch {
			case !matched:
				dst.WriteString(line)
			case p.mode&modeCommentOut != 0:
				dst.WriteString("#" + line)
			}
			continue
		}
		matched = false
		words := strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(masterBlanks, r) })
		if len(words) < 2 {
			panic(fatalf("file %s: line %d: specify service name and type on the same line", path, lines.lineno))
		}
		service, typ := words[0], words[1]
		if strings.Contains(service, "=") {
			panic(fatalf("file %s: line %d: service name syntax \"%s\" is unsupported with %s", path, lines.lineno, service, masterEditOpts))
		}
		if strings.ContainsAny(typ, "=/") {
			panic(fatalf("file %s: line %d: service type syntax \"%s\" is unsupported with %s", path, lines.lineno, typ, masterEditOpts))
		}
		var newEntry *masterEnt
		for _, req := range reqs {
			var tentative *masterEnt
			useTentative := false
			if wholeEntries {
				tentative = p.parseEditEntry(req)
			}
			if req.pattern.matches(service, typ) {
				matched = true
				req.matched++
				if edit || (p.mode&modeMasterParam != 0 && p.mode&modeEditExcl != 0) {
					switch {
					case p.mode&(modeMasterFld|modeMasterParam) != 0:
						if newEntry == nil {
							full := lines.gobble(line)
							m, complaint := p.parseMasterEntry(full)
							if complaint != "" {
								panic(fatalf("file %s: line %d: %s", path, lines.lineno, complaint))
							}
							newEntry = m
						}
						if p.mode&modeMasterFld != 0 {
							p.editMasterField(newEntry, req.field, req.value)
						} else {
							editMasterParam(newEntry, p.mode, req.param, req.value)
						}
					default:
						if req.matched == 1 {
							useTentative = true
						}
					}
				}
			} else if tentative != nil && matchString(tentative.argv[fldService], service) &&
				matchString(tentative.argv[fldType], typ) {
				matched = true
				req.matched++
				if req.matched == 1 {
					useTentative = true
				}
			}
			if useTentative {
				newEntry = tentative
			}
		}
		switch {
		case newEntry != nil:
			p.printMasterEntry(dst, modeFoldLine, newEntry)
		case !matched:
			dst.WriteString(line)
		case p.mode&modeCommentOut != 0:
			dst.WriteString("#" + line)
		}
	}
	for _, req := range reqs {
		if req.matched != 0 {
			continue
		}
		if wholeEntries {
			p.printMasterEntry(dst, modeFoldLine, p.parseEditEntry(req))
		} else if p.mode&modeMasterEntry == 0 {
			p.warnf("unmatched service_name/type: \"%s\"", req.raw)
		}
	}
	p.finishEdit(path, ep, src, dst)
}

// parseEditEntry parses the new entry text of a -Me request.
func (p *program) parseEditEntry(req *masterEdit) *masterEnt {
	m, complaint := p.parseMasterEntry(req.value)
	if complaint != "" {
		panic(fatalf("%s: \"%s\"", complaint, req.raw))
	}
	return m
}

// editMasterField replaces one field of an entry; for the command field the
// new value is the command with its arguments.
func (p *program) editMasterField(m *masterEnt, field int, value string) {
	if field == fldCommand {
		// Let the master.cf parser split and normalise the new command
		// line, behind seven placeholder fields.
		e, err := maincf.ParseMasterEntry("x unix - - - - - "+value, p.warn)
		if errors.Is(err, maincf.ErrBadFieldCount) {
			// Postfix 3.7.11 crashes here.
			panic(fatalf("-Fe does not accept an empty command field"))
		}
		if err != nil {
			p.fatal(err)
		}
		m.argv = append(append(m.argv[:fldCommand:fldCommand], e.Command), e.Args...)
	} else {
		m.argv[field] = value
	}
	checkMasterEntry(m.argv, value)
}

// editMasterParam updates, adds (-Pe) or removes (-PX) "-o name=value"
// among an entry's daemon options.
func editMasterParam(m *masterEnt, mode int, name, value string) {
	argv := m.argv
	found := false
	field := minMasterFields
	for ; field < len(argv); field++ {
		arg := argv[field]
		if arg == "" || arg[0] != '-' || arg == "--" {
			break
		}
		if !takesValue(arg) || field+1 >= len(argv) {
			continue
		}
		if arg == "-o" {
			aval := argv[field+1]
			if strings.HasPrefix(aval, name) && len(aval) > len(name) && aval[len(name)] == '=' {
				found = true
				if mode&modeEditConf != 0 {
					argv[field+1] = name + "=" + value
				} else {
					argv = append(argv[:field], argv[field+2:]...)
					field -= 2
				}
			}
		}
		field++
	}
	if mode&modeEditConf != 0 && !found {
		argv = insertString(argv, field, "-o")
		argv = insertString(argv, field+1, name+"="+value)
	}
	m.argv = argv
}

func insertString(s []string, at int, v string) []string {
	s = append(s, "")
	copy(s[at+1:], s[at:])
	s[at] = v
	return s
}

// isSpaceByte is C's isspace() in the C locale.
func isSpaceByte(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}
