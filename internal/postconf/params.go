package postconf

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
)

// Parameter flags: how postconf classifies a parameter name.
const (
	flagRaw      = 1 << iota // value is never $name-expanded
	flagBuiltin              // built into Postfix
	flagService              // defined by a master.cf service (relay_destination_...)
	flagUser                 // user-defined, set and referenced
	flagLegacy               // legacy name, listed only when set
	flagReadOnly             // process_id, process_name, service_name
	flagDBMS                 // derived from a legacy database client name (ldap:foo → foo_server_host)
	classMask    = flagBuiltin | flagService | flagUser
)

// paramNode is one known parameter name.
type paramNode struct {
	flags int
	def   func() string // the default value
}

// notRawInPostconf are parameters that postscreen reads without expansion
// but that postconf itself treats as ordinary (postconf -x expands them).
var notRawInPostconf = map[string]bool{
	"postscreen_disable_vrfy_command": true,
	"postscreen_enforce_tls":          true,
	"postscreen_helo_required":        true,
	"postscreen_use_tls":              true,
}

func constDefault(v string) func() string { return func() string { return v } }

// setClass replaces the class bits of n's flags.
func (n *paramNode) setClass(class int) { n.flags = n.flags&^classMask | class }

// registerBuiltinParameters fills the parameter table with Postfix's
// built-in and legacy parameters.
func (p *program) registerBuiltinParameters() {
	p.params = map[string]*paramNode{}
	for _, name := range append(maincf.BuiltinNames(), maincf.ProjectParams()...) {
		flags := flagBuiltin
		if maincf.IsRaw(name) && !notRawInPostconf[name] {
			flags |= flagRaw
		}
		var def func() string
		switch name {
		case "process_name":
			flags |= flagReadOnly
			def = constDefault(p.procName)
		case "process_id":
			flags |= flagReadOnly
			def = constDefault(strconv.Itoa(p.pid))
		case "service_name":
			flags |= flagReadOnly
			def = constDefault("")
		default:
			if maincf.IsComputedDefault(name) {
				name := name
				def = func() string { return p.computedDefault(name) }
			} else {
				v, _ := maincf.BuiltinDefault(name)
				def = constDefault(v)
			}
		}
		p.params[name] = &paramNode{flags: flags, def: def}
	}
	for _, name := range maincf.LegacyParams() {
		if _, ok := p.params[name]; !ok {
			p.params[name] = &paramNode{flags: flagLegacy, def: constDefault("")}
		}
	}
}

// registerServiceParameters adds the per-service parameters of the
// delivery agents, pipe and spawn services in master.cf.
func (p *program) registerServiceParameters() {
	entries := make([]maincf.MasterEntry, 0, len(p.master))
	for _, m := range p.master {
		entries = append(entries, m.entry)
	}
	for _, sp := range maincf.ServiceParams(entries) {
		if n, ok := p.params[sp.Name]; ok {
			n.setClass(flagService)
			continue
		}
		p.params[sp.Name] = &paramNode{flags: flagService, def: constDefault(sp.Default)}
	}
}

// lookupValue returns the value of name for display or expansion: a
// master.cf entry's own settings first (when local is not nil), then
// main.cf and -o, then the default. With modeShowDefs only the default
// counts, with modeShowNonDef no default does.
func (p *program) lookupValue(mode int, name string, local *masterEnt, node *paramNode) (string, bool) {
	if mode&modeShowDefs == 0 {
		if local != nil {
			if v, ok := local.roParams.get(name); ok {
				return v, true
			}
			if v, ok := local.allParams.get(name); ok {
				return v, true
			}
		}
		if v, ok := p.main.get(name); ok {
			return v, true
		}
		if mode&modeShowNonDef != 0 {
			return "", false
		}
	}
	if node == nil {
		node = p.params[name]
	}
	if node == nil {
		return "", false
	}
	return node.def(), true
}

// expandValue expands $name in value recursively. A syntax error or a
// reference loop is fatal, after the warnings that explain it.
func (p *program) expandValue(mode int, value string, local *masterEnt) string {
	e := maincf.Expander{
		Lookup: func(name string, _ maincf.LookupMode) (string, bool) {
			return p.lookupValue(mode&^modeShowNonDef, name, local, nil)
		},
		Warn: p.warn,
	}
	out, err := e.Expand(value)
	if err != nil {
		var me *maincf.MacroError
		if errors.As(err, &me) {
			panic(fatalf("macro processing error"))
		}
		p.fatal(err)
	}
	return out
}

// showParameters prints main.cf parameters: all known ones of the given
// classes, sorted, or the named ones in the order given.
func (p *program) showParameters(class int, names []string) {
	if len(names) == 0 {
		all := make([]string, 0, len(p.params))
		for name := range p.params {
			all = append(all, name)
		}
		sort.Strings(all)
		for _, name := range all {
			if node := p.params[name]; node.flags&class != 0 {
				p.printParameter(name, node)
			}
		}
		return
	}
	for _, name := range names {
		node := p.params[name]
		if node == nil {
			p.warnf("%s: unknown parameter", name)
			continue
		}
		p.printParameter(name, node)
	}
}

// printParameter prints one "name = value" line (or only the name or only
// the value with -H or -h).
func (p *program) printParameter(name string, node *paramNode) {
	value, ok := p.lookupValue(p.mode, name, nil, node)
	if !ok {
		return
	}
	switch {
	case p.mode&modeHideValue != 0:
		printLine(p.out, p.mode, name)
	default:
		if p.mode&modeShowEval != 0 && node.flags&flagRaw == 0 {
			value = p.expandValue(p.mode, value, nil)
		}
		if p.mode&modeHideName == 0 {
			printLine(p.out, p.mode, name+" = "+value)
		} else {
			printLine(p.out, p.mode, value)
		}
	}
}

// registerUserParameters finds the user-defined parameters that count as
// known: those with a name=value setting that are referenced as $name (in
// main.cf, master.cf or a default value) or listed in
// smtpd_restriction_classes. On the way it drops read-only settings and
// reports references to parameters that have no value anywhere.
func (p *program) registerUserParameters() {
	p.restClass = map[string]bool{}
	p.namespaces = map[string]*dict{}
	for _, m := range p.master {
		argv := m.argv
		for field := minMasterFields; field < len(argv); field++ {
			arg := argv[field]
			if arg == "" || arg[0] != '-' || arg == "--" {
				break
			}
			if !takesValue(arg) || field+1 >= len(argv) {
				continue
			}
			if arg == "-o" {
				if name, value, err := maincf.SplitNameValue(argv[field+1]); err == nil {
					d := p.namespaces[m.nameSpace]
					if d == nil {
						d = newDict()
						p.namespaces[m.nameSpace] = d
					}
					d.set(name, value)
				}
			}
			field++
		}
		// Like Postfix, an entry gets its name space only when that name
		// space exists once the entry's own -o settings are in: an
		// earlier entry with the same service/type and no -o of its own
		// does not see a later entry's settings (and does not report
		// them as unused a second time).
		if d := p.namespaces[m.nameSpace]; d != nil {
			m.allParams = d
			m.validNames = map[string]bool{}
		}
	}
	for _, m := range p.master {
		if m.allParams != nil {
			p.scanNamespace(m.allParams, m.nameSpace, m)
		}
	}
	p.scanDefaultValues()
	p.scanNamespace(p.mainDict(), "mail_dict", nil)
}

// scanValue looks at every $name in value (both branches of every
// conditional) and validates or reports the names.
func (p *program) scanValue(value string, class int, local *masterEnt) {
	e := maincf.Expander{
		Scan: true,
		Lookup: func(name string, _ maincf.LookupMode) (string, bool) {
			p.flagUserParameter(name, class, local)
			return "", false
		},
		Warn: p.warn,
	}
	// Syntax errors are warnings here; the warnings are already printed.
	_, _, _ = e.ExpandStatus(value)
}

// flagUserParameter validates a referenced name that has a name=value
// setting, or warns that it is undefined.
func (p *program) flagUserParameter(name string, class int, local *masterEnt) {
	source := mainFile
	if local != nil {
		source = masterFile
	}
	supplied := false
	if _, ok := local.allParamsGet(name); ok {
		supplied = true
		local.validNames[name] = true
	} else if _, ok := p.main.get(name); ok {
		supplied = true
		if _, known := p.params[name]; !known {
			p.params[name] = &paramNode{flags: class, def: constDefault("")}
		}
	}
	if local == nil {
		for _, m := range p.master {
			if _, ok := m.allParams.get(name); ok {
				supplied = true
				m.validNames[name] = true
			}
		}
	}
	if !supplied && class&flagDBMS == 0 {
		if _, known := p.params[name]; !known {
			p.warnf("%s/%s: undefined parameter: %s", p.configDir, source, name)
		}
	}
}

// allParamsGet looks name up in the entry's -o settings (m may be nil).
func (m *masterEnt) allParamsGet(name string) (string, bool) {
	if m == nil {
		return "", false
	}
	return m.allParams.get(name)
}

// lookupEval returns the value of name in d, expanded with d's own
// settings only (Postfix's dict_eval on a configuration dictionary).
func (p *program) lookupEval(d *dict, dictName, name string) (string, bool) {
	v, ok := d.get(name)
	if !ok {
		return "", false
	}
	e := maincf.Expander{
		Lookup: func(n string, _ maincf.LookupMode) (string, bool) { return d.get(n) },
		Warn:   p.warn,
	}
	out, err := e.Expand(v)
	if err != nil {
		var me *maincf.MacroError
		if errors.As(err, &me) {
			panic(fatalf("dictionary %s: macro processing error", dictName))
		}
		p.fatal(err)
	}
	return out, true
}

// scanNamespace scans the settings of main.cf (local == nil) or of one
// master.cf entry.
func (p *program) scanNamespace(d *dict, dictName string, local *masterEnt) {
	source := mainFile
	if local != nil {
		source = masterFile
	}
	if classes, ok := p.lookupEval(d, dictName, "smtpd_restriction_classes"); ok {
		for _, name := range strings.FieldsFunc(classes, isCommaSpace) {
			if local == nil {
				p.restClass[name] = true
			}
			p.flagUserParameter(name, flagUser, local)
		}
	}
	for _, name := range d.keys() {
		value, ok := d.get(name)
		if !ok {
			continue
		}
		if local != nil && !local.validNames[name] && p.restClass[name] {
			local.validNames[name] = true
		}
		node := p.params[name]
		if node != nil {
			if node.flags&flagReadOnly != 0 {
				p.warnf("%s/%s: read-only parameter assignment: %s=%s", p.configDir, source, name, value)
				d.del(name)
				continue
			}
			if node.flags&flagLegacy != 0 {
				node.setClass(flagUser)
			}
			if node.flags&flagRaw != 0 {
				continue
			}
		}
		p.scanValue(value, flagUser, local)
		if node != nil && node.flags&(flagBuiltin|flagService) != 0 {
			p.registerDBMSParameters(value, local)
		}
	}
}

// scanDefaultValues scans the defaults of parameters that are not set, for
// references to user-defined (mostly obsolete) parameter names.
func (p *program) scanDefaultValues() {
	names := make([]string, 0, len(p.params))
	for name := range p.params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		node := p.params[name]
		if node.flags&flagRaw != 0 {
			continue
		}
		if _, set := p.main.get(name); set {
			continue
		}
		p.scanValue(node.def(), flagUser, nil)
	}
}

func isCommaSpace(r rune) bool { return strings.ContainsRune(", \t\r\n", r) }

// flagUnusedMainParameters warns about main.cf settings that are not known
// parameters.
func (p *program) flagUnusedMainParameters() {
	p.flagUnused(p.main, mainFile, nil)
}

// flagUnusedMasterParameters warns about master.cf -o settings that are
// not known parameters.
func (p *program) flagUnusedMasterParameters() {
	for _, m := range p.master {
		if m.allParams != nil {
			p.flagUnused(m.allParams, masterFile, m)
		}
	}
}

func (p *program) flagUnused(d *dict, file string, local *masterEnt) {
	for _, name := range d.keys() {
		value, _ := d.get(name)
		if _, known := p.params[name]; known {
			continue
		}
		if local != nil && local.validNames[name] {
			continue
		}
		p.out.Flush()
		p.warnf("%s/%s: unused parameter: %s=%s", p.configDir, file, name, value)
	}
}
