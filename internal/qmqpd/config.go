package qmqpd

import (
	"fmt"
	"strings"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
)

// Matcher is an access list such as qmqpd_authorized_clients: it matches a
// client by host name and address. A non-nil error means a lookup or
// configuration problem (Postfix's "server configuration error").
type Matcher interface {
	Match(name, addr string) (bool, error)
}

// Config is the part of main.cf (and -o overrides) a session uses. A
// Server reads it once per connection, so a reload takes effect for the
// next client.
type Config struct {
	Hostname         string        // myhostname
	MailName         string        // mail_name
	Timeout          time.Duration // qmqpd_timeout, per read or write
	ErrorDelay       time.Duration // qmqpd_error_delay, before every non-K reply
	PortLogging      bool          // qmqpd_client_port_logging
	ContentFilter    string        // content_filter
	CleanupFlags     int           // cleanup flags after receive_override_options etc.
	MessageSizeLimit int64         // message_size_limit (0 = none)
	LineLengthLimit  int           // line_length_limit
	SoftBounce       bool          // soft_bounce
	VERPFilter       string        // verp_delimiter_filter
	InetProtocols    string        // inet_protocols, as written (for messages)
	IPv4, IPv6       bool          // families enabled by inet_protocols

	// Authorized is qmqpd_authorized_clients; nil authorizes nobody.
	Authorized Matcher
	// DebugPeers is debug_peer_list; nil when empty.
	DebugPeers Matcher
	// DebugPeerLevel is debug_peer_level: the verbose levels added for
	// the connection of a client that DebugPeers matches.
	DebugPeerLevel int
	// Resolver does the client name lookups; nil means net.DefaultResolver.
	Resolver Resolver
	// NameCacheTTL is how long a Server reuses the outcome of a client
	// address's name lookups (0 = look up for every connection, as
	// Postfix does).
	NameCacheTTL time.Duration
	// OwnerUID, when >= 0, is mail_owner's uid: like Postfix, a session on
	// an inet socket refuses to run with other privileges (master mode).
	OwnerUID int
	// OwnerGID is mail_owner's primary group (used to drop privileges).
	OwnerGID int
	// UTF8 is smtputf8_enable (for log texts).
	UTF8 bool
}

// Transparency bits of receive_override_options.
const (
	transpUnknownRcpt = 1 << iota
	transpAddressMapping
	transpHeaderBody
	transpMilter
)

// CleanupFlags computes the flags qmqpd sends to cleanup from
// receive_override_options and smtputf8_autodetect_classes. Errors are
// Postfix's fatal texts.
func CleanupFlags(receiveOverride, autodetectClasses string) (int, error) {
	transp, err := nameMask("receive_override_options", receiveOverride, map[string]int{
		"no_unknown_recipient_checks": transpUnknownRcpt,
		"no_address_mappings":         transpAddressMapping,
		"no_header_body_checks":       transpHeaderBody,
		"no_milters":                  transpMilter,
	})
	if err != nil {
		return 0, err
	}
	flags := cleanupclient.FlagMaskExternal
	if transp&transpAddressMapping != 0 {
		flags &^= cleanupclient.FlagBCCOK | cleanupclient.FlagMapOK
	}
	if transp&transpHeaderBody != 0 {
		flags &^= cleanupclient.FlagFilter
	}
	if transp&transpMilter != 0 {
		flags &^= cleanupclient.FlagMilter
	}
	const (
		srcSendmail = 1 << iota
		srcSMTPD
		srcQMQPD
		srcForward
		srcBounce
		srcNotify
		srcVerify
	)
	classes, err := nameMask("smtputf8_autodetect_classes", autodetectClasses, map[string]int{
		"sendmail": srcSendmail, "smtpd": srcSMTPD, "qmqpd": srcQMQPD, "forward": srcForward,
		"bounce": srcBounce, "notify": srcNotify, "verify": srcVerify, "all": 0x7f,
	})
	if err != nil {
		return 0, err
	}
	if classes&srcQMQPD != 0 {
		flags |= cleanupclient.FlagAutoUTF8
	}
	return flags, nil
}

// nameMask is Postfix's name_mask with the default (fatal, case-sensitive)
// behaviour: names separated by commas and white space.
func nameMask(param, value string, table map[string]int) (int, error) {
	mask := 0
	for _, name := range strings.FieldsFunc(value, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}) {
		bit, ok := table[name]
		if !ok {
			return 0, fmt.Errorf("unknown %s value \"%s\" in \"%s\"", param, name, value)
		}
		mask |= bit
	}
	return mask, nil
}

// InetProtocols parses inet_protocols ("all", "ipv4", "ipv6", or a list)
// with Postfix's name_mask rules.
func InetProtocols(value string) (v4, v6 bool, err error) {
	mask, err := nameMask("inet_protocols", value, map[string]int{"ipv4": 1, "ipv6": 2, "all": 3})
	if err != nil {
		return false, false, err
	}
	return mask&1 != 0, mask&2 != 0, nil
}
