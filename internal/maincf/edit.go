package maincf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// EditMode is what an edit does to the named entries: postconf -e, -X or
// -#.
type EditMode int

const (
	// EditSet replaces or adds entries (-e).
	EditSet EditMode = iota
	// EditRemove deletes entries (-X).
	EditRemove
	// EditComment comments entries out (-#).
	EditComment
)

// MainEdit is one main.cf edit request.
type MainEdit struct {
	Name  string
	Value string // for EditSet
}

// ErrMissingServiceArgument is postconf's error for an edit without
// arguments.
var ErrMissingServiceArgument = errors.New("missing service argument")

// ParseMainEdits checks postconf's main.cf edit arguments ("name=value" for
// EditSet, "name" otherwise) and returns the requests in command-line order.
// A name given twice keeps its later request; for EditSet warn receives
// "ignoring earlier request: 'NAME = OLDVALUE'" (for EditRemove and
// EditComment, where Postfix 3.7.11 crashes, "ignoring earlier request:
// 'NAME'"). Errors are postconf's fatal texts.
func ParseMainEdits(mode EditMode, args []string, warn func(string)) ([]MainEdit, error) {
	if len(args) == 0 {
		return nil, ErrMissingServiceArgument
	}
	var out []MainEdit
	for _, arg := range args {
		if strings.Contains(arg, "\n") {
			return nil, errors.New("-e, -X, or -# accepts no multi-line input")
		}
		cp := arg[spanSpace(arg):]
		if strings.HasPrefix(cp, "#") {
			return nil, errors.New("-e, -X, or -# accepts no comment input")
		}
		var e MainEdit
		if mode == EditSet {
			name, value, err := SplitNameValue(cp)
			if err != nil {
				return nil, errors.New(Printable(fmt.Sprintf("%s: \"%s\"", err, cp)))
			}
			e = MainEdit{Name: name, Value: value}
		} else {
			if cp == "" {
				return nil, errors.New("-X or -# requires non-blank parameter names")
			}
			if strings.Contains(cp, "=") {
				return nil, errors.New("-X or -# requires parameter names without value")
			}
			// Postfix means to trim trailing white space here but does not
			// (so "a " never matches); we do the same.
			e = MainEdit{Name: cp}
		}
		for i, old := range out {
			if old.Name == e.Name {
				if warn != nil {
					if mode == EditSet {
						warn(Printable(fmt.Sprintf("ignoring earlier request: '%s = %s'", old.Name, old.Value)))
					} else {
						warn(Printable(fmt.Sprintf("ignoring earlier request: '%s'", old.Name)))
					}
				}
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// physicalLines splits data into lines that keep their newline.
func physicalLines(data []byte) []string {
	var out []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, string(data))
			break
		}
		out = append(out, string(data[:i+1]))
		data = data[i+1:]
	}
	return out
}

// firstInfo returns the index of the first non-space byte of a physical
// line, and whether the line is a comment, blank or all-space line (which
// edits pass through unchanged).
func firstInfo(line string) (int, bool) {
	i := spanSpace(line)
	return i, i == len(line) || line[i] == '#'
}

// EditMainCFData applies main.cf edits to the contents of a main.cf named
// path and returns the new contents, with Postfix's algorithm: comment,
// blank and all-space lines pass through unchanged (even inside an entry);
// an entry whose name (text up to white space or '=') is requested is
// replaced by "name = value" (EditSet), dropped (EditRemove) or prefixed with
// '#' (EditComment) together with its continuation lines; a name found more
// than once gives the warning "PATH: multiple entries for \"NAME\"". Names
// not found are appended in request order (EditSet), on a line of their own.
func EditMainCFData(path string, data []byte, mode EditMode, edits []MainEdit, warn func(string)) []byte {
	type state struct {
		value string
		found int
	}
	table := map[string]*state{}
	for _, e := range edits {
		table[e.Name] = &state{value: e.Value}
	}
	var out strings.Builder
	interesting := false
	for _, line := range physicalLines(data) {
		cp, pass := firstInfo(line)
		if pass {
			out.WriteString(line)
			continue
		}
		if cp > 0 {
			if !interesting {
				out.WriteString(line)
			} else if mode == EditComment {
				out.WriteString("#" + line)
			}
			continue
		}
		key := line[:strcspn(line, " \t\r\n=")]
		st, ok := table[key]
		interesting = ok
		if !ok {
			out.WriteString(line)
			continue
		}
		st.found++
		if st.found == 2 && warn != nil {
			warn(Printable(fmt.Sprintf("%s: multiple entries for \"%s\"", path, key)))
		}
		switch mode {
		case EditSet:
			out.WriteString(key + " = " + st.value + "\n")
		case EditComment:
			out.WriteString("#" + line)
		}
	}
	if mode == EditSet {
		s := out.String()
		for _, e := range edits {
			if table[e.Name].found == 0 {
				if s != "" && !strings.HasSuffix(s, "\n") {
					// Postfix glues the new entry to an unterminated
					// last line; we end that line first.
					out.WriteString("\n")
					s += "\n"
				}
				out.WriteString(e.Name + " = " + e.Value + "\n")
			}
		}
	}
	return []byte(out.String())
}

// strcspn returns the length of the leading part of s without any byte of
// reject.
func strcspn(s, reject string) int {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(reject, s[i]) >= 0 {
			return i
		}
	}
	return len(s)
}

// EditMainCF edits the main.cf file at path with the lock-and-rename
// protocol (see OpenEditFile). The result has mode 0644. Errors are
// postconf's fatal texts ("open PATH.tmp: ...",
// "open PATH for reading: ...").
func EditMainCF(path string, mode EditMode, edits []MainEdit, warn func(string)) error {
	return editWith(path, func(data []byte) ([]byte, error) {
		return EditMainCFData(path, data, mode, edits, warn), nil
	})
}

// editWith runs one locked edit of path: the temporary file is opened and
// locked first, then the original is read and transformed.
func editWith(path string, transform func([]byte) ([]byte, error)) error {
	ef, err := OpenEditFile(path, 0o644)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		ef.Abort()
		return fmt.Errorf("open %s for reading: %s", path, syserr.Text(err))
	}
	out, err := transform(data)
	if err != nil {
		ef.Abort()
		return err
	}
	if _, err := ef.Write(out); err != nil {
		ef.Abort()
		return fmt.Errorf("close %s%s: %s", path, EditFileSuffix, syserr.Text(err))
	}
	return ef.Commit()
}

// MasterEditKind says which part of master.cf an edit addresses.
type MasterEditKind int

const (
	// EditEntries edits whole entries (-M).
	EditEntries MasterEditKind = iota
	// EditFields edits one field of entries (-F).
	EditFields
	// EditParams edits "-o name=value" options of entries (-P).
	EditParams
)

// MasterEdit is one master.cf edit request.
type MasterEdit struct {
	Raw     string // the command-line argument as given
	Service string // service name pattern ("*" matches any)
	Type    string // service type pattern ("*" matches any)
	Field   int    // EditFields: field index 0..7
	Param   string // EditParams: parameter name
	Value   string // EditSet: the new entry, field value or parameter value
	// Matches counts the entries the request matched (set by EditMasterData).
	Matches int
}

const masterEditOpts = "-Me, -Fe, -Pe, -X, or -#"

// ParseServicePattern splits "service[/type[/x]]" into between min and max
// components, filling missing ones with "*". It fails (ok false) for a
// leading '/', a wrong number of components, or '*' inside a word.
func ParseServicePattern(pattern string, min, max int) ([]string, bool) {
	if strings.HasPrefix(pattern, "/") {
		return nil, false
	}
	var parts []string
	for _, p := range strings.Split(pattern, "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) < min || len(parts) > max {
		return nil, false
	}
	for _, p := range parts {
		if p != "*" && strings.Contains(p, "*") {
			return nil, false
		}
	}
	for len(parts) < max {
		parts = append(parts, "*")
	}
	return parts, true
}

// ParseFieldName converts a master.cf field name (service, type, private,
// unprivileged, chroot, wakeup, process_limit, command) to its index; "*"
// gives -1. The error is "invalid service attribute name: \"NAME\"".
func ParseFieldName(name string) (int, error) {
	if name == "*" {
		return -1, nil
	}
	for i, n := range MasterFieldNames {
		if n == name {
			return i, nil
		}
	}
	return 0, errors.New(Printable(fmt.Sprintf("invalid service attribute name: \"%s\"", name)))
}

// MatchPattern reports whether a pattern component ("*" or a literal)
// matches s.
func MatchPattern(pattern, s string) bool { return pattern == "*" || pattern == s }

// ParseMasterEdits checks postconf's master.cf edit arguments and returns
// the requests. Errors are postconf's fatal texts.
func ParseMasterEdits(kind MasterEditKind, mode EditMode, args []string) ([]*MasterEdit, error) {
	if len(args) == 0 {
		return nil, ErrMissingServiceArgument
	}
	var out []*MasterEdit
	for _, arg := range args {
		req := &MasterEdit{Raw: arg}
		if strings.Contains(arg, "\n") {
			return nil, errors.New(masterEditOpts + " accept no multi-line input")
		}
		cp := arg[spanSpace(arg):]
		if strings.HasPrefix(cp, "#") {
			return nil, errors.New(masterEditOpts + " accept no comment input")
		}
		var pattern string
		if mode == EditSet {
			name, value, err := SplitNameValue(cp)
			if err != nil {
				return nil, errors.New(Printable(fmt.Sprintf("%s: \"%s\"", err, arg)))
			}
			pattern, req.Value = name, value
		} else {
			if strings.Contains(cp, "=") {
				return nil, errors.New("-X or -# requires names without value")
			}
			pattern = cp // not trimmed, as in Postfix
		}
		switch kind {
		case EditEntries:
			p, ok := ParseServicePattern(pattern, 2, 2)
			if !ok {
				return nil, errors.New("-Me, -MX or -M# requires service_name/type")
			}
			req.Service, req.Type = p[0], p[1]
		case EditFields:
			p, ok := ParseServicePattern(pattern, 3, 3)
			if !ok {
				return nil, errors.New("-Fe or -FX requires service_name/type/field_name")
			}
			req.Service, req.Type = p[0], p[1]
			f, err := ParseFieldName(p[2])
			if err != nil {
				return nil, err
			}
			if f < 0 {
				return nil, errors.New("-Fe does not accept wild-card field name")
			}
			req.Field = f
			if mode == EditSet && f < 7 && strings.ContainsAny(req.Value, masterBlanks) {
				return nil, errors.New("-Fe does not accept whitespace in non-command field")
			}
		case EditParams:
			p, ok := ParseServicePattern(pattern, 3, 3)
			if !ok {
				return nil, errors.New("-Pe or -PX requires service_name/type/parameter")
			}
			req.Service, req.Type, req.Param = p[0], p[1], p[2]
			if req.Param == "*" {
				return nil, errors.New("-Pe does not accept wild-card parameter name")
			}
			if mode == EditSet && strings.ContainsAny(req.Value, masterBlanks) {
				return nil, errors.New("-Pe does not accept whitespace in parameter value")
			}
		}
		out = append(out, req)
	}
	return out, nil
}

// parseNewEntry parses the entry text of a -Me request.
func parseNewEntry(req *MasterEdit, warn func(string)) (*MasterEntry, error) {
	e, err := ParseMasterEntry(req.Value, warn)
	if errors.Is(err, ErrBadFieldCount) {
		return nil, errors.New(Printable(fmt.Sprintf("%s: \"%s\"", err, req.Raw)))
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// SetField replaces one field of the entry (index 0..7); for the command
// (7) value is the command plus arguments, which are split and normalised.
// The field checks of master.cf apply ("invalid private field \"x\" in
// \"x\"").
func (e *MasterEntry) SetField(field int, value string, warn func(string)) error {
	f := e.Fields()
	if field == 7 {
		words := splitQuoted(value, masterBlanks)
		argv := append(f[:7:7], words...)
		for len(argv) < 8 {
			argv = append(argv, "")
		}
		copy(f[:], argv[:8])
		args := normalizeArgs(argv[8:], warn)
		if err := checkMasterFields(f[:], value); err != nil {
			return err
		}
		e.Command, e.Args = f[7], args
		return nil
	}
	f[field] = value
	if err := checkMasterFields(f[:], value); err != nil {
		return err
	}
	e.Service, e.Type, e.Private, e.Unpriv, e.Chroot, e.Wakeup, e.MaxProc = f[0], f[1], f[2], f[3], f[4], f[5], f[6]
	return nil
}

// SetParam updates ("-o name=value" in place, or appended after the last
// daemon option) or, with remove, deletes the entry's "-o name=..."
// options, as postconf -Pe / -PX do.
func (e *MasterEntry) SetParam(name, value string, remove bool) {
	args := e.Args
	match := false
	j := 0
	for ; j < len(args); j++ {
		arg := args[j]
		if !strings.HasPrefix(arg, "-") || arg == "--" {
			break
		}
		if takesValue(arg) && j+1 < len(args) {
			if arg == "-o" {
				aval := args[j+1]
				if strings.HasPrefix(aval, name) && len(aval) > len(name) && aval[len(name)] == '=' {
					match = true
					if remove {
						args = append(args[:j], args[j+2:]...)
						j -= 2
					} else {
						args[j+1] = name + "=" + value
					}
				}
			}
			j++
		}
	}
	if !remove && !match {
		if j > len(args) {
			j = len(args)
		}
		args = append(args[:j], append([]string{"-o", name + "=" + value}, args[j:]...)...)
	}
	e.Args = args
}

// EditMasterData applies master.cf edits to the contents of a master.cf
// named path and returns the new contents, with postconf's algorithm (see
// the package notes): matching entries are replaced (written in the folded
// -Mf layout), removed or commented out; -Me entries that match nothing are
// appended; -Fe/-Pe/-PX requests that match nothing give the warning
// "unmatched service_name/type: \"RAW\"". Each request's Matches is set.
// Errors are postconf's fatal texts.
func EditMasterData(path string, data []byte, kind MasterEditKind, mode EditMode, reqs []*MasterEdit, warn func(string)) ([]byte, error) {
	var out strings.Builder
	lines := physicalLines(data)
	lineno := 0
	matched := false
	var newEntry *MasterEntry
	for i := 0; i < len(lines); {
		line := lines[i]
		i++
		lineno++
		cp, pass := firstInfo(line)
		if pass {
			out.WriteString(line)
			continue
		}
		if cp > 0 {
			if !matched {
				out.WriteString(line)
			} else if mode == EditComment {
				out.WriteString("#" + line)
			}
			continue
		}
		matched = false
		words := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
		if len(words) < 2 {
			return nil, fmt.Errorf("file %s: line %d: specify service name and type on the same line", path, lineno)
		}
		name, typ := words[0], words[1]
		if strings.Contains(name, "=") {
			return nil, errors.New(Printable(fmt.Sprintf("file %s: line %d: service name syntax \"%s\" is unsupported with %s", path, lineno, name, masterEditOpts)))
		}
		if strings.ContainsAny(typ, "=/") {
			return nil, errors.New(Printable(fmt.Sprintf("file %s: line %d: service type syntax \"%s\" is unsupported with %s", path, lineno, typ, masterEditOpts)))
		}
		for _, req := range reqs {
			var tentative *MasterEntry
			use := false
			if kind == EditEntries && mode == EditSet {
				t, err := parseNewEntry(req, warn)
				if err != nil {
					return nil, err
				}
				tentative = t
			}
			switch {
			case MatchPattern(req.Service, name) && MatchPattern(req.Type, typ):
				matched = true
				req.Matches++
				if mode != EditSet && !(kind == EditParams && mode == EditRemove) {
					break
				}
				switch kind {
				case EditFields, EditParams:
					if newEntry == nil {
						// Gobble the continuation lines; comment lines
						// among and after them are written out first.
						// (Postfix does not count these lines.)
						full := line
						for i < len(lines) {
							next := lines[i]
							if next[0] != '#' && !isSpace(next[0]) {
								break
							}
							i++
							if _, p := firstInfo(next); p {
								out.WriteString(next)
							} else {
								full += next
							}
						}
						e, err := ParseMasterEntry(full, warn)
						if errors.Is(err, ErrBadFieldCount) {
							return nil, fmt.Errorf("file %s: line %d: %s", path, lineno, err)
						}
						if err != nil {
							return nil, err
						}
						newEntry = &e
					}
					if kind == EditFields {
						if err := newEntry.SetField(req.Field, req.Value, warn); err != nil {
							return nil, err
						}
					} else {
						newEntry.SetParam(req.Param, req.Value, mode == EditRemove)
					}
				case EditEntries:
					if req.Matches == 1 {
						use = true
					}
				}
			case tentative != nil && MatchPattern(tentative.Service, name) && MatchPattern(tentative.Type, typ):
				matched = true
				req.Matches++
				if req.Matches == 1 {
					use = true
				}
			}
			if tentative != nil && use {
				newEntry = tentative
			}
		}
		switch {
		case newEntry != nil:
			out.WriteString(newEntry.Format(true, nil))
			newEntry = nil
		case !matched:
			out.WriteString(line)
		case mode == EditComment:
			out.WriteString("#" + line)
		}
	}
	for _, req := range reqs {
		if req.Matches != 0 {
			continue
		}
		if kind == EditEntries && mode == EditSet {
			e, err := parseNewEntry(req, warn)
			if err != nil {
				return nil, err
			}
			s := out.String()
			if s != "" && !strings.HasSuffix(s, "\n") {
				out.WriteString("\n")
			}
			out.WriteString(e.Format(true, nil))
		} else if kind != EditEntries && warn != nil {
			warn(Printable(fmt.Sprintf("unmatched service_name/type: \"%s\"", req.Raw)))
		}
	}
	return []byte(out.String()), nil
}

// EditMaster edits the master.cf file at path with the lock-and-rename
// protocol (see OpenEditFile and EditMasterData). -Me requests are checked
// before the file is touched. On a fatal error the temporary file is
// removed (Postfix leaves an empty master.cf.tmp behind).
func EditMaster(path string, kind MasterEditKind, mode EditMode, reqs []*MasterEdit, warn func(string)) error {
	if kind == EditEntries && mode == EditSet {
		for _, req := range reqs {
			if _, err := parseNewEntry(req, nil); err != nil {
				return err
			}
		}
	}
	return editWith(path, func(data []byte) ([]byte, error) {
		return EditMasterData(path, data, kind, mode, reqs, warn)
	})
}
