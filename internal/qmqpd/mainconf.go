package qmqpd

import (
	"fmt"
	"os/user"
	"strconv"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/dict"
	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/matchlist"
)

// CleanupModeParam is the main.cf parameter (our addition) that chooses
// where messages go: "service" (Postfix's cleanup(8) over
// public/$cleanup_service_name) or "builtin" (the project's own cleanup
// writes the queue file). Empty means "service" under master(8) and
// "builtin" when the daemon runs standalone.
const CleanupModeParam = "qmqpd_cleanup_mode"

// Cleanup modes.
const (
	ModeService = "service"
	ModeBuiltin = "builtin"
)

// Reporter receives Postfix's warning and error texts while a
// configuration is built (list syntax, table problems).
type Reporter struct {
	Warn  func(text string)
	Error func(text string)
}

// ConfigFromMainCF builds a session Config from main.cf and -o overrides, in
// the order and with the checks of Postfix's qmqpd. master tells whether
// the daemon runs under master(8) (then it insists on mail_owner's
// privileges, as Postfix does). Errors are Postfix's fatal texts.
func ConfigFromMainCF(c *maincf.Config, master bool, rep Reporter) (*Config, error) {
	cfg := &Config{OwnerUID: -1, NameCacheTTL: DefaultNameCacheTTL}
	var err error
	get := func(name string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = c.Get(name)
		return v
	}
	cfg.InetProtocols = get("inet_protocols")
	if err != nil {
		return nil, err
	}
	if cfg.IPv4, cfg.IPv6, err = InetProtocols(cfg.InetProtocols); err != nil {
		return nil, err
	}
	cfg.Hostname = get("myhostname")
	cfg.MailName = get("mail_name")
	cfg.ContentFilter = get("content_filter")
	cfg.VERPFilter = get("verp_delimiter_filter")
	receiveOverride := get("receive_override_options")
	autodetect := get("smtputf8_autodetect_classes")
	authorized := get("qmqpd_authorized_clients")
	debugPeers := get("debug_peer_list")
	parentStyle := get("parent_domain_matches_subdomains")
	owner := get("mail_owner")
	if err != nil {
		return nil, err
	}
	if cfg.MessageSizeLimit, err = c.Long("message_size_limit", 0, 0); err != nil {
		return nil, err
	}
	if cfg.LineLengthLimit, err = c.Int("line_length_limit", 512, 0); err != nil {
		return nil, err
	}
	if cfg.DebugPeerLevel, err = c.Int("debug_peer_level", 1, 0); err != nil {
		return nil, err
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{
		{"soft_bounce", &cfg.SoftBounce},
		{"smtputf8_enable", &cfg.UTF8},
		{"qmqpd_client_port_logging", &cfg.PortLogging},
	} {
		if *b.dst, err = c.Bool(b.name); err != nil {
			return nil, err
		}
	}
	if cfg.Timeout, err = c.Time("qmqpd_timeout", time.Second, 0); err != nil {
		return nil, err
	}
	if cfg.ErrorDelay, err = c.Time("qmqpd_error_delay", 0, 0); err != nil {
		return nil, err
	}
	if master {
		if err := checkAccounts(c, owner, cfg); err != nil {
			return nil, err
		}
	}
	reg := dict.NewRegistry(rep.Warn)
	reg.Error = rep.Error
	if debugPeers != "" {
		l, err := matchlist.New("debug_peer_list", debugPeers, matchlist.ParentStyle("debug_peer_list", parentStyle), reg, rep.Warn)
		if err != nil {
			return nil, err
		}
		cfg.DebugPeers = l
	}
	l, err := matchlist.New("qmqpd_authorized_clients", authorized, matchlist.ParentStyle("qmqpd_authorized_clients", parentStyle), reg, rep.Warn)
	if err != nil {
		return nil, err
	}
	cfg.Authorized = l
	if cfg.CleanupFlags, err = CleanupFlags(receiveOverride, autodetect); err != nil {
		return nil, err
	}
	return cfg, nil
}

// CleanupMode returns the effective qmqpd_cleanup_mode.
func CleanupMode(c *maincf.Config, master bool) (string, error) {
	v, err := c.Get(CleanupModeParam)
	if err != nil {
		return "", err
	}
	switch v {
	case "":
		if master {
			return ModeService, nil
		}
		return ModeBuiltin, nil
	case ModeService, ModeBuiltin:
		return v, nil
	}
	return "", fmt.Errorf("unknown %s value \"%s\" in \"%s\"", CleanupModeParam, v, v)
}

// checkAccounts makes Postfix's start-up checks of mail_owner,
// default_privs and setgid_group, in Postfix's order and words, and sets
// cfg.OwnerUID and cfg.OwnerGID.
func checkAccounts(c *maincf.Config, owner string, cfg *Config) error {
	dir := c.Dir()
	privs, err := c.Get("default_privs")
	if err != nil {
		return err
	}
	group, err := c.Get("setgid_group")
	if err != nil {
		return err
	}
	lookupUser := func(param, name string) (uid, gid int, err error) {
		u, uerr := user.Lookup(name)
		if uerr != nil {
			return 0, 0, fmt.Errorf("file %s/main.cf: parameter %s: unknown user name value: %s", dir, param, name)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		if uid == 0 {
			return 0, 0, fmt.Errorf("file %s/main.cf: parameter %s: user %s has privileged user ID", dir, param, name)
		}
		return uid, gid, nil
	}
	ownerUID, ownerGID, err := lookupUser("mail_owner", owner)
	if err != nil {
		return err
	}
	privsUID, privsGID, err := lookupUser("default_privs", privs)
	if err != nil {
		return err
	}
	g, gerr := user.LookupGroup(group)
	if gerr != nil {
		return fmt.Errorf("file %s/main.cf: parameter setgid_group: unknown group name: %s", dir, group)
	}
	sgid, _ := strconv.Atoi(g.Gid)
	if sgid == 0 {
		return fmt.Errorf("file %s/main.cf: parameter setgid_group: group %s has privileged group ID", dir, group)
	}
	if privsUID == ownerUID {
		return fmt.Errorf("file %s/main.cf: parameters default_privs and mail_owner specify the same user %s", dir, privs)
	}
	if ownerGID == sgid {
		return fmt.Errorf("file %s/main.cf: parameters mail_owner and setgid_group: user %s and group %s have the same group ID: %d", dir, owner, group, sgid)
	}
	if privsGID == sgid {
		return fmt.Errorf("file %s/main.cf: parameters default_privs and setgid_group: user %s and group %s have the same group ID: %d", dir, privs, group, sgid)
	}
	cfg.OwnerUID, cfg.OwnerGID = ownerUID, ownerGID
	return nil
}
