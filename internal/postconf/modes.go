package postconf

import "strings"

// Mode bits: one per option that selects what postconf does. The values
// follow Postfix's, so that messages that list several options list them
// in the same order.
const (
	modeShowNonDef   = 1 << 0  // -n
	modeShowDefs     = 1 << 1  // -d
	modeHideName     = 1 << 2  // -h
	modeShowMaps     = 1 << 3  // -m
	modeEditConf     = 1 << 4  // -e
	modeShowLocks    = 1 << 5  // -l
	modeShowEval     = 1 << 6  // -x
	modeSASLServer   = 1 << 7  // -a
	modeSASLClient   = 1 << 8  // -A
	modeCommentOut   = 1 << 9  // -#
	modeMasterEntry  = 1 << 10 // -M
	modeFoldLine     = 1 << 11 // -f
	modeEditExcl     = 1 << 12 // -X
	modeMasterFld    = 1 << 13 // -F
	modeMainParam    = 1 << 14 // -p
	modeExpandTmpl   = 1 << 15 // -b
	modeParamClass   = 1 << 16 // -C (never set: postconf checks it nowhere)
	modeMainOver     = 1 << 17 // -o
	modeDumpTmpl     = 1 << 18 // -t
	modeMasterParam  = 1 << 19 // -P
	modeHideValue    = 1 << 20 // -H
	modeShowTLS      = 1 << 21 // -T
	modeMainOrMaster = modeMainParam | modeMasterEntry | modeMasterFld | modeMasterParam
	modeMasterAny    = modeMasterEntry | modeMasterFld | modeMasterParam
	modeEditAny      = modeEditConf | modeEditExcl | modeCommentOut
)

// incompatible lists groups of options of which at most one may be given.
// The first group is the major modes.
var incompatible = []int{
	modeSASLServer | modeSASLClient | modeExpandTmpl | modeShowLocks | modeShowMaps |
		modeDumpTmpl | modeMainParam | modeMasterEntry | modeMasterFld | modeMasterParam | modeShowTLS,
	modeShowDefs | modeEditConf | modeShowNonDef | modeCommentOut | modeEditExcl,
	modeFoldLine | modeEditConf | modeCommentOut | modeEditExcl,
	modeShowEval | modeEditConf | modeCommentOut | modeEditExcl,
	modeMainOver | modeShowDefs | modeEditConf | modeCommentOut | modeEditExcl,
	modeHideName | modeEditConf | modeCommentOut | modeEditExcl | modeHideValue,
}

// compatible lists, for each major mode (and -C), the only other options
// that it may be combined with.
var compatible = []struct{ mode, with int }{
	{modeSASLServer, 0},
	{modeSASLClient, 0},
	{modeExpandTmpl, 0},
	{modeShowLocks, 0},
	{modeShowMaps, 0},
	{modeShowTLS, 0},
	{modeDumpTmpl, 0},
	{modeMainParam, modeEditConf | modeEditExcl | modeCommentOut | modeFoldLine | modeHideName |
		modeParamClass | modeShowEval | modeShowDefs | modeShowNonDef | modeMainOver | modeHideValue},
	{modeMasterEntry, modeEditConf | modeEditExcl | modeCommentOut | modeFoldLine | modeMainOver | modeShowEval},
	{modeMasterFld, modeEditConf | modeFoldLine | modeHideName | modeMainOver | modeShowEval | modeHideValue},
	{modeMasterParam, modeEditConf | modeEditExcl | modeFoldLine | modeHideName | modeMainOver |
		modeShowEval | modeHideValue},
	{modeParamClass, modeMainParam | modeShowDefs | modeShowNonDef},
}

// modeNames gives each mode bit its option name, in the order in which
// postconf lists them.
var modeNames = []struct {
	name string
	bit  int
}{
	{"-a", modeSASLServer}, {"-A", modeSASLClient}, {"-b", modeExpandTmpl},
	{"-C", modeParamClass}, {"-d", modeShowDefs}, {"-e", modeEditConf},
	{"-f", modeFoldLine}, {"-F", modeMasterFld}, {"-h", modeHideName},
	{"-H", modeHideValue}, {"-l", modeShowLocks}, {"-m", modeShowMaps},
	{"-M", modeMasterEntry}, {"-n", modeShowNonDef}, {"-o", modeMainOver},
	{"-p", modeMainParam}, {"-P", modeMasterParam}, {"-t", modeDumpTmpl},
	{"-T", modeShowTLS}, {"-x", modeShowEval}, {"-X", modeEditExcl},
	{"-#", modeCommentOut},
}

// modeString lists the options in mask, separated by spaces.
func modeString(mask int) string {
	var parts []string
	for _, n := range modeNames {
		if mask&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, " ")
}

// checkModes applies postconf's option compatibility rules and returns the
// first violation as a fatal error.
func checkModes(mode int) error {
	for _, group := range incompatible {
		set := group & mode
		if set&(set-1) != 0 {
			return fatalf("specify one of %s", modeString(set))
		}
	}
	for _, c := range compatible {
		if mode&c.mode == 0 {
			continue
		}
		if excess := mode &^ (c.mode | c.with); excess != 0 {
			return fatalf("with option %s, do not specify %s", modeString(c.mode), modeString(excess))
		}
	}
	return nil
}
