package postcat

import (
	"path/filepath"
	"strings"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
)

// settings are the main.cf parameters postcat uses.
type settings struct {
	queueDir       string
	hashQueueNames string
	hashQueueDepth int
	tz             string // TZ after import_environment
	// smtputf8 is smtputf8_enable: it decides whether diagnostics keep
	// UTF-8 text or replace every non-ASCII byte.
	smtputf8 bool
}

// loadConfig reads configDir/main.cf with the project's main.cf library, so
// that syntax errors, expansion loops and bad values are fatal in Postfix's
// words, as they are for the real postcat, and so are problems with any of
// the global parameters (maincf's CheckGlobals). Warnings go to warn.
func loadConfig(configDir string, env func(string) string, warn func(string)) (settings, error) {
	c, err := maincf.Load(maincf.Options{ConfigDir: configDir, Getenv: env, Warn: warn, NoProcessName: true})
	if err != nil {
		return settings{}, fatalf("%s", err)
	}
	// Like every Postfix program, postcat checks all the global
	// parameters as soon as it has read main.cf, so the conversions below
	// cannot fail any more.
	if err := c.CheckGlobals(); err != nil {
		return settings{}, fatalf("%s", err)
	}
	var s settings
	if s.smtputf8, err = c.Bool("smtputf8_enable"); err != nil {
		return settings{}, fatalf("%s", err)
	}
	if s.queueDir, err = c.Get("queue_directory"); err != nil {
		return settings{}, fatalf("%s", err)
	}
	if s.hashQueueNames, err = c.Get("hash_queue_names"); err != nil {
		return settings{}, fatalf("%s", err)
	}
	imports, err := c.List("import_environment")
	if err != nil {
		return settings{}, fatalf("%s", err)
	}
	if s.hashQueueDepth, err = c.Int("hash_queue_depth", 1, 0); err != nil {
		return settings{}, fatalf("%s", err)
	}
	s.tz = env("TZ")
	for _, item := range imports {
		if n, v, ok := strings.Cut(item, "="); ok && n == "TZ" {
			s.tz = v
		}
	}
	s.queueDir = filepath.Clean(s.queueDir)
	return s, nil
}
