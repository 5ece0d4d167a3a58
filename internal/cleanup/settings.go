package cleanup

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
)

// Settings are the main.cf parameters cleanup consults for QMQP mail, in
// their converted form. Build them with SettingsFromConfig, or fill them in
// by hand in tests (DefaultSettings gives Postfix's defaults).
type Settings struct {
	MyHostname string // myhostname: right side of added Message-Ids
	MyOrigin   string // myorigin: appended to unqualified addresses
	MyDomain   string // mydomain: appended by append_dot_mydomain

	AppendAtMyOrigin  bool // append_at_myorigin
	AppendDotMyDomain bool // append_dot_mydomain
	SwapBangPath      bool // swap_bangpath
	AllowPercentHack  bool // allow_percent_hack

	EmptyAddressRecipient string // empty_address_recipient

	LineLengthLimit          int   // line_length_limit
	HeaderSizeLimit          int   // header_size_limit
	HeaderAddressTokenLimit  int   // header_address_token_limit
	HopcountLimit            int   // hopcount_limit
	MessageSizeLimit         int64 // message_size_limit (0 = none): whole queue file
	MessageDropHeaders       []string
	ReplaceStrayCRLF         bool // cleanup_replace_stray_cr_lf
	Detect8BitEncodingHeader bool // detect_8bit_encoding_header

	DisableMIMEInputProcessing bool // disable_mime_input_processing
	MIMENestingLimit           int  // mime_nesting_limit
	MIMEBoundaryLengthLimit    int  // mime_boundary_length_limit

	EnableLongQueueIDs           bool          // enable_long_queue_ids
	DuplicateFilterLimit         int           // duplicate_filter_limit (0 = no limit)
	EnableOriginalRecipient      bool          // enable_original_recipient
	DelayWarningTime             time.Duration // delay_warning_time
	QueueFileAttributeCountLimit int           // queue_file_attribute_count_limit
	SMTPUTF8Enable               bool          // smtputf8_enable
	VERPDelimiterFilter          string        // verp_delimiter_filter
	UndisclosedRecipientsHeader  string        // undisclosed_recipients_header

	// ReceiveOverrideOptions is receive_override_options, as listed.
	ReceiveOverrideOptions []string
	// SMTPUTF8AutodetectQMQP is true when smtputf8_autodetect_classes lists
	// "qmqpd".
	SMTPUTF8AutodetectQMQP bool

	// Location is the time zone of added Date: headers (nil = time.Local).
	Location *time.Location

	// Unsupported lists the cleanup features main.cf turns on that this
	// package does not implement; a message is refused (temporarily) when
	// one of them applies to it.
	Unsupported []Feature

	// table is the header table built once for MessageDropHeaders as
	// tableDrop lists them; it is shared read-only by all messages.
	table     headerTable
	tableDrop []string
}

// prepare builds what every message shares: the header table.
func (s *Settings) prepare() {
	s.table = newHeaderTable(s.MessageDropHeaders)
	s.tableDrop = slices.Clone(s.MessageDropHeaders)
}

// headerTable returns the shared header table, or a new one when the
// settings were changed by hand after they were built.
func (s *Settings) headerTable() headerTable {
	if s.table != nil && slices.Equal(s.tableDrop, s.MessageDropHeaders) {
		return s.table
	}
	return newHeaderTable(s.MessageDropHeaders)
}

// Feature is a cleanup feature, turned on by a parameter, that this package
// does not implement.
type Feature struct {
	Param string // the parameter that turns it on, e.g. "canonical_maps"
	Value string // its value
	// Flag is the processing flag that must be set for the feature to
	// apply (FlagMapOK, FlagBCCOK, FlagFilter, FlagMilter), or 0 if it
	// always applies.
	Flag int
}

// DefaultSettings returns Postfix 3.7.11's defaults for a machine called
// myhostname in domain mydomain, with compatibility_level >= 1.
func DefaultSettings(myhostname, mydomain string) *Settings {
	s := &Settings{
		MyHostname:                   myhostname,
		MyOrigin:                     myhostname,
		MyDomain:                     mydomain,
		AppendAtMyOrigin:             true,
		SwapBangPath:                 true,
		AllowPercentHack:             true,
		EmptyAddressRecipient:        "MAILER-DAEMON",
		LineLengthLimit:              2048,
		HeaderSizeLimit:              102400,
		HeaderAddressTokenLimit:      10240,
		HopcountLimit:                50,
		MessageSizeLimit:             10240000,
		MessageDropHeaders:           []string{"bcc", "content-length", "resent-bcc", "return-path"},
		ReplaceStrayCRLF:             true,
		Detect8BitEncodingHeader:     true,
		MIMENestingLimit:             100,
		MIMEBoundaryLengthLimit:      2048,
		DuplicateFilterLimit:         1000,
		EnableOriginalRecipient:      true,
		QueueFileAttributeCountLimit: 100,
		SMTPUTF8Enable:               true,
		VERPDelimiterFilter:          "-=+",
	}
	s.prepare()
	return s
}

// QMQPFlags returns the processing flags Postfix's qmqpd passes to cleanup
// with these settings: FlagMaskExternal minus what receive_override_options
// switches off, plus FlagAutoUTF8 when smtputf8_autodetect_classes lists
// qmqpd.
func (s *Settings) QMQPFlags() int {
	flags := FlagMaskExternal
	for _, o := range s.ReceiveOverrideOptions {
		switch strings.ToLower(o) {
		case "no_address_mappings":
			flags &^= FlagBCCOK | FlagMapOK
		case "no_header_body_checks":
			flags &^= FlagFilter
		case "no_milters":
			flags &^= FlagMilter
		}
	}
	if s.SMTPUTF8AutodetectQMQP {
		flags |= FlagAutoUTF8
	}
	return flags
}

// unsupportedParams lists, per processing flag, the parameters whose
// non-empty value turns on a feature this package lacks.
var unsupportedParams = []struct {
	param string
	flag  int
}{
	{"canonical_maps", FlagMapOK},
	{"sender_canonical_maps", FlagMapOK},
	{"recipient_canonical_maps", FlagMapOK},
	{"masquerade_domains", FlagMapOK},
	{"virtual_alias_maps", FlagMapOK},
	{"always_bcc", FlagBCCOK},
	{"sender_bcc_maps", FlagBCCOK},
	{"recipient_bcc_maps", FlagBCCOK},
	{"header_checks", FlagFilter},
	{"mime_header_checks", FlagFilter},
	{"nested_header_checks", FlagFilter},
	{"body_checks", FlagFilter},
	{"message_reject_characters", FlagFilter},
	{"message_strip_characters", FlagFilter},
	{"non_smtpd_milters", FlagMilter},
}

// unsupportedBools are boolean parameters whose "yes" turns on a feature
// this package lacks.
var unsupportedBools = []struct {
	param string
	flag  int
}{
	{"strict_7bit_headers", FlagFilter},
	{"strict_8bitmime", FlagFilter},
	{"strict_8bitmime_body", FlagFilter},
	{"strict_mime_encoding_domain", FlagFilter},
}

// SettingsFromConfig reads every parameter cleanup uses from c. Errors are
// Postfix's fatal texts for bad values.
func SettingsFromConfig(c *maincf.Config) (*Settings, error) {
	s := &Settings{}
	var err error
	str := func(name string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = c.Get(name)
		return v
	}
	boolean := func(name string) bool {
		if err != nil {
			return false
		}
		var v bool
		v, err = c.Bool(name)
		return v
	}
	integer := func(name string, min, max int) int {
		if err != nil {
			return 0
		}
		var v int
		v, err = c.Int(name, min, max)
		return v
	}
	list := func(name string) []string {
		if err != nil {
			return nil
		}
		var v []string
		v, err = c.List(name)
		return v
	}
	s.MyHostname = str("myhostname")
	s.MyOrigin = str("myorigin")
	s.MyDomain = str("mydomain")
	s.AppendAtMyOrigin = boolean("append_at_myorigin")
	s.AppendDotMyDomain = boolean("append_dot_mydomain")
	s.SwapBangPath = boolean("swap_bangpath")
	s.AllowPercentHack = boolean("allow_percent_hack")
	s.EmptyAddressRecipient = str("empty_address_recipient")
	s.LineLengthLimit = integer("line_length_limit", 512, 0)
	s.HeaderSizeLimit = integer("header_size_limit", 1, 0)
	s.HeaderAddressTokenLimit = integer("header_address_token_limit", 1, 0)
	s.HopcountLimit = integer("hopcount_limit", 1, 0)
	if err == nil {
		s.MessageSizeLimit, err = c.Long("message_size_limit", 0, 0)
	}
	s.MessageDropHeaders = list("message_drop_headers")
	s.ReplaceStrayCRLF = boolean("cleanup_replace_stray_cr_lf")
	s.Detect8BitEncodingHeader = boolean("detect_8bit_encoding_header")
	s.DisableMIMEInputProcessing = boolean("disable_mime_input_processing")
	s.MIMENestingLimit = integer("mime_nesting_limit", 1, 0)
	s.MIMEBoundaryLengthLimit = integer("mime_boundary_length_limit", 1, 0)
	s.EnableLongQueueIDs = boolean("enable_long_queue_ids")
	s.DuplicateFilterLimit = integer("duplicate_filter_limit", 0, 0)
	s.EnableOriginalRecipient = boolean("enable_original_recipient")
	if err == nil {
		s.DelayWarningTime, err = c.Time("delay_warning_time", 0, 0)
	}
	s.QueueFileAttributeCountLimit = integer("queue_file_attribute_count_limit", 1, 0)
	s.SMTPUTF8Enable = boolean("smtputf8_enable")
	s.VERPDelimiterFilter = str("verp_delimiter_filter")
	s.UndisclosedRecipientsHeader = str("undisclosed_recipients_header")
	s.ReceiveOverrideOptions = list("receive_override_options")
	for _, cl := range list("smtputf8_autodetect_classes") {
		if strings.EqualFold(cl, "qmqpd") {
			s.SMTPUTF8AutodetectQMQP = true
		}
	}
	for _, p := range unsupportedParams {
		if v := strings.TrimSpace(str(p.param)); v != "" {
			s.Unsupported = append(s.Unsupported, Feature{Param: p.param, Value: v, Flag: p.flag})
		}
	}
	for _, p := range unsupportedBools {
		if boolean(p.param) {
			s.Unsupported = append(s.Unsupported, Feature{Param: p.param, Value: "yes", Flag: p.flag})
		}
	}
	if err != nil {
		return nil, err
	}
	s.prepare()
	return s, nil
}

// unsupportedFor returns the first unsupported feature that applies to a
// message with the given processing flags, or nil.
func (s *Settings) unsupportedFor(flags int) *Feature {
	for i := range s.Unsupported {
		f := &s.Unsupported[i]
		if f.Flag == 0 || flags&f.Flag != 0 {
			return f
		}
	}
	return nil
}

// refusal is the reason text for a message refused because of f.
func (f *Feature) refusal() string {
	return fmt.Sprintf("4.3.5 cleanup: %s is not supported by this server", f.Param)
}
