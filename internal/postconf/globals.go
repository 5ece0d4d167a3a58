package postconf

import "github.com/qmqpd-go/qmqpd/internal/maincf"

// checkGlobals runs Postfix's start-up checks of the global parameters
// (postconf -m, -b and -t need them, as they open tables or run a daemon
// like any Postfix program) on main.cf and the -o overrides. The first
// problem is fatal, in Postfix's words.
func (p *program) checkGlobals() {
	settings := maincf.NewDict()
	for _, name := range p.mainDict().keys() {
		v, _ := p.main.get(name)
		settings.Set(name, v)
	}
	if err := maincf.CheckGlobalSettings(settings, p.configDir, maincf.Host{}, p.warn); err != nil {
		p.fatal(err)
	}
}
