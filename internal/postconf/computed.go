package postconf

import (
	"os"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// Defaults of these parameters are expressions that postconf expands
// before it works out mynetworks.
const (
	defInetInterfaces = "all"
	defInetProtocols  = "all"
)

// computedDefault returns the default of a parameter whose default depends
// on the machine (myhostname, mydomain, mynetworks). Each is worked out
// once per run, like Postfix does.
func (p *program) computedDefault(name string) string {
	if v, ok := p.computed[name]; ok {
		return v
	}
	var v string
	switch name {
	case "myhostname":
		v = p.defaultMyhostname()
	case "mydomain":
		host, ok := p.lookupEval(p.mainDict(), "mail_dict", "myhostname")
		if !ok {
			host = p.computedDefault("myhostname")
		}
		v = maincf.ComputeMydomain(host)
	case "mynetworks":
		v = p.defaultMynetworks()
	default:
		// A computed default this version does not know how to work out;
		// the built-in table says it has one, so show it as empty.
		v = ""
	}
	if p.computed == nil {
		p.computed = map[string]string{}
	}
	p.computed[name] = v
	return v
}

// defaultMyhostname is the machine's host name, completed with $mydomain
// from main.cf (or "localdomain") when it has no dot.
func (p *program) defaultMyhostname() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		panic(fatalf("gethostname: %s", syserr.Text(err)))
	}
	domain, _ := p.lookupEval(p.mainDict(), "mail_dict", "mydomain")
	return maincf.ComputeMyhostname(host, domain)
}

// setting returns the main.cf value of name expanded with main.cf alone,
// or, under -d or when it is not set, def expanded as postconf expands
// values.
func (p *program) setting(name, def string) string {
	if p.mode&modeShowDefs == 0 {
		if v, ok := p.lookupEval(p.mainDict(), "mail_dict", name); ok {
			return v
		}
	}
	return p.expandValue(p.mode, def, nil)
}

// defaultMynetworks lists the networks of the machine's interfaces in the
// style that mynetworks_style asks for.
func (p *program) defaultMynetworks() string {
	interfaces := p.setting("inet_interfaces", defInetInterfaces)
	styleDef, _ := maincf.BuiltinDefault("mynetworks_style")
	style := p.setting("mynetworks_style", styleDef)
	protocols := p.setting("inet_protocols", defInetProtocols)
	for _, word := range strings.FieldsFunc(protocols, isCommaSpace) {
		if word != "ipv4" && word != "ipv6" && word != "all" {
			panic(fatalf("unknown inet_protocols value \"%s\" in \"%s\"", word, protocols))
		}
	}
	v, err := maincf.ComputeMynetworks(style, protocols, interfaces, maincf.Host{})
	if err != nil {
		p.fatal(err)
	}
	return v
}
