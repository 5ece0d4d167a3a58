package maincf

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// DefaultConfigDir is Postfix's compiled-in configuration directory.
const DefaultConfigDir = "/etc/postfix"

// ConfigDictName is Postfix's internal name of the main.cf dictionary, as
// it appears in "dictionary mail_dict: macro processing error".
const ConfigDictName = "mail_dict"

// Options says where configuration comes from.
type Options struct {
	ConfigDir   string   // "" = $MAIL_CONFIG, else "/etc/postfix"
	Overrides   []string // "name=value" from -o, applied in order (later wins)
	ProcessName string   // read-only process_name ("" = base name of os.Args[0])
	// NoProcessName leaves process_name undefined ($process_name expands
	// to nothing), as in Postfix's commands that are not daemons: only the
	// server skeletons define it.
	NoProcessName bool
	ServiceName   string              // read-only service_name
	Warn          func(text string)   // warnings in Postfix's words; nil = discard
	Getenv        func(string) string // nil = os.Getenv

	// NoMainCF skips reading main.cf (postconf -d): only the built-in
	// defaults (and Overrides, if any) are used.
	NoMainCF bool
	// Host supplies hostname, interfaces and PID for computed defaults;
	// the zero value uses the running machine.
	Host Host
}

// Config is a loaded configuration: main.cf settings plus overrides, over
// the built-in defaults. It is safe for concurrent use.
type Config struct {
	dir   string
	dict  *Dict
	warn  func(string)
	host  Host
	local bool // config_directory was entered from MAIL_CONFIG / ConfigDir

	mu       sync.Mutex
	computed map[string]string
}

// ParseOverride splits a "-o name=value" argument. The error is
// ErrMissingName or ErrMissingEqual; callers word the fatal message
// (daemons: `invalid "-o NAME" option value: ERR`, postconf:
// `invalid parameter override: ARG: ERR`).
func ParseOverride(arg string) (name, value string, err error) {
	return SplitNameValue(arg)
}

// ConfigDirFrom returns the configuration directory to use: dir when not
// empty, else $MAIL_CONFIG, else /etc/postfix. explicit tells whether it came
// from dir or the environment.
func ConfigDirFrom(dir string, getenv func(string) string) (string, bool) {
	if dir != "" {
		return dir, true
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if d := getenv("MAIL_CONFIG"); d != "" {
		return d, true
	}
	return DefaultConfigDir, false
}

// Load reads main.cf from the configuration directory and applies the
// overrides, like a Postfix daemon at start-up. Errors are Postfix's fatal
// texts: "open /DIR/main.cf: No such file or directory",
// "/DIR/main.cf, line N: missing '=' after attribute name: \"...\"",
// `invalid "-o x" option value: missing '=' after attribute name`.
func Load(opts Options) (*Config, error) {
	dir, explicit := ConfigDirFrom(opts.ConfigDir, opts.Getenv)
	c := &Config{dir: dir, dict: NewDict(), warn: opts.Warn, host: opts.Host, local: explicit, computed: map[string]string{}}
	if explicit {
		c.dict.Set("config_directory", dir)
	}
	if !opts.NoMainCF {
		if err := c.dict.LoadFile(filepath.Join(dir, "main.cf"), opts.Warn); err != nil {
			return nil, err
		}
	}
	for _, o := range opts.Overrides {
		name, value, err := ParseOverride(o)
		if err != nil {
			return nil, errors.New(Printable(fmt.Sprintf("invalid \"-o %s\" option value: %s", o, err)))
		}
		c.dict.Set(name, value)
	}
	if !opts.NoProcessName {
		procName := opts.ProcessName
		if procName == "" && len(os.Args) > 0 {
			procName = path.Base(os.Args[0])
		}
		c.dict.Set("process_name", procName)
	}
	c.dict.Set("service_name", opts.ServiceName)
	c.dict.Set("process_id", strconv.Itoa(c.host.pid()))
	return c, nil
}

// Dir returns the configuration directory in use.
func (c *Config) Dir() string { return c.dir }

// Settings returns the explicit settings: config_directory (when it came
// from MAIL_CONFIG or Options.ConfigDir), main.cf and the overrides, plus
// the read-only process_name, service_name and process_id. The caller must
// not modify it.
func (c *Config) Settings() *Dict { return c.dict }

// Lookup returns the raw value of name: the override or main.cf value, else
// the built-in default (computed defaults included). ok is false for an
// unknown name with no setting.
func (c *Config) Lookup(name string) (string, bool) {
	if v, ok := c.dict.Lookup(name); ok {
		return v, true
	}
	return c.Default(name)
}

// Raw returns the unexpanded value of name (see Lookup).
func (c *Config) Raw(name string) (string, bool) { return c.Lookup(name) }

// Default returns the built-in default of name, with computed defaults
// (myhostname, mydomain, mynetworks) worked out for this configuration.
func (c *Config) Default(name string) (string, bool) {
	p, ok := findBuiltin(name)
	if !ok {
		return "", false
	}
	if !p.computed {
		return p.def, true
	}
	v, err := c.computedDefault(name)
	if err != nil {
		if c.warn != nil {
			c.warn(err.Error())
		}
		return "", true
	}
	return v, true
}

func (c *Config) computedDefault(name string) (string, error) {
	switch name {
	case "process_name", "process_id":
		v, _ := c.dict.Lookup(name)
		return v, nil
	}
	c.mu.Lock()
	v, ok := c.computed[name]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	var err error
	switch name {
	case "myhostname":
		domain := ""
		if raw, ok := c.dict.Lookup("mydomain"); ok {
			domain, err = c.expandRaw(raw)
		}
		v = ComputeMyhostname(c.host.hostname(), domain)
	case "mydomain":
		var h string
		h, err = c.Get("myhostname")
		v = ComputeMydomain(h)
	case "mynetworks":
		var style, protos, ifaces string
		if style, err = c.Get("mynetworks_style"); err != nil {
			break
		}
		if protos, err = c.Get("inet_protocols"); err != nil {
			break
		}
		if ifaces, err = c.Get("inet_interfaces"); err != nil {
			break
		}
		v, err = ComputeMynetworks(style, protos, ifaces, c.host)
	}
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.computed[name] = v
	c.mu.Unlock()
	return v, nil
}

// Expander returns an expander that looks names up in this configuration
// (settings, then defaults) and reports warnings to the configured Warn.
func (c *Config) Expander() *Expander {
	return &Expander{
		Lookup: func(name string, _ LookupMode) (string, bool) { return c.Lookup(name) },
		Warn:   c.warn,
	}
}

func (c *Config) expandRaw(raw string) (string, error) {
	v, err := c.Expander().Expand(raw)
	var me *MacroError
	if errors.As(err, &me) {
		me.Dict = ConfigDictName
	}
	return v, err
}

// Expand expands $name references in value against this configuration.
// Syntax warnings go to Options.Warn; the error is
// "dictionary mail_dict: macro processing error" (a *MacroError).
func (c *Config) Expand(value string) (string, error) { return c.expandRaw(value) }

// Get returns the expanded value of name (its default when unset; "" for
// an unknown name). Raw parameters (IsRaw) are returned unexpanded.
func (c *Config) Get(name string) (string, error) {
	if _, set := c.dict.Lookup(name); !set && IsComputedDefault(name) {
		if _, err := c.computedDefault(name); err != nil {
			return "", err
		}
	}
	raw, ok := c.Lookup(name)
	if !ok || IsRaw(name) {
		return raw, nil
	}
	return c.expandRaw(raw)
}

// Bool returns a boolean parameter ("yes"/"no", case-insensitive). The
// error is "bad boolean configuration: NAME = VALUE".
func (c *Config) Bool(name string) (bool, error) {
	v, err := c.Get(name)
	if err != nil {
		return false, err
	}
	return ParseBool(name, v)
}

// Int returns an int parameter checked against min and max (0 = no
// limit). Errors: "bad numerical configuration: NAME = VALUE",
// "invalid NAME parameter value V < MIN", "invalid NAME parameter value V > MAX".
func (c *Config) Int(name string, min, max int) (int, error) {
	v, err := c.Get(name)
	if err != nil {
		return 0, err
	}
	return ParseInt(name, v, min, max)
}

// Long returns a long parameter; see Int.
func (c *Config) Long(name string, min, max int64) (int64, error) {
	v, err := c.Get(name)
	if err != nil {
		return 0, err
	}
	return ParseLong(name, v, min, max)
}

// Time returns a time parameter (integer plus optional unit s, m, h, d or
// w; the default unit is the first letter of the parameter's default
// value, "s" when there is none) checked against min and max (0 = no
// limit; whole seconds). Errors: "parameter NAME: bad time value or unit:
// VALUE", "invalid NAME: V (min N)", "invalid NAME: V (max N)".
func (c *Config) Time(name string, min, max time.Duration) (time.Duration, error) {
	v, err := c.Get(name)
	if err != nil {
		return 0, err
	}
	unit := byte('s')
	if def, ok := c.Default(name); ok {
		if d, err := c.expandRaw(def); err == nil {
			unit = DefaultTimeUnit(d)
		}
	}
	return ParseTime(name, v, unit, min, max)
}

// List returns a list parameter split on commas and white space, keeping
// {...} groups together (braces included).
func (c *Config) List(name string) ([]string, error) {
	v, err := c.Get(name)
	if err != nil {
		return nil, err
	}
	return SplitList(v), nil
}
