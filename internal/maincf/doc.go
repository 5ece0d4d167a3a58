// Package maincf reads, expands, type-checks and edits Postfix
// configuration (main.cf and master.cf) the way Postfix 3.7.11 does.
//
// Every command of the project uses it: daemons through Load and the typed
// getters, postconf through the lower-level pieces. Library functions return
// errors whose Error() is exactly the text Postfix prints after "fatal: "
// and report warnings through a func(text string) callback; the caller adds
// the "prog: warning: " / "prog: fatal: " prefix.
//
// # Reading
//
//   - ReadLogicalLines: Postfix's logical lines (comments and blank lines
//     skipped, continuation by leading white space).
//   - ParseMainCF / SplitNameValue: "name = value" entries.
//   - Dict, ReadMainCF, (*Dict).Load: the main.cf dictionary with "last
//     wins" and the "overriding earlier entry" warning.
//   - ParseMaster, ParseMasterEntry, ReadMaster: master.cf entries
//     (MasterEntry) with postconf's field checks and argument
//     normalisation; (*MasterEntry).Options lists the -o settings and
//     (*MasterEntry).Format writes the -M / -Mf layout.
//
// # Expansion
//
// Expand and Expander implement $name, ${name}, $(name), $$,
// ${name?value}, ${name:value}, ${name?{a}:{b}}, relational
// ${{a} OP {b}?...:...} with the "level" operators, Postfix's nesting limit
// and every syntax warning. Expander.Scan visits every reference without
// producing output (postconf's unused/undefined checks).
//
// # Parameters
//
// The built-in parameter table (builtin_gen.go) is generated from the real
// postconf -d by internal/gen (go generate). IsBuiltin, BuiltinNames,
// BuiltinDefault, IsRaw, IsReadOnly, IsLegacy and ServiceParams classify
// names; ComputeMyhostname, ComputeMydomain and ComputeMynetworks work out
// the machine-dependent defaults.
//
// # Daemons
//
// Load reads $config_directory/main.cf plus -o overrides into a Config.
// Config.Get expands a value (defaults included); Bool, Int, Long, Time and
// List convert it with Postfix's exact fatal texts (ParseBool, ParseInt,
// ParseLong, ParseTime and ConvTime are the underlying conversions).
// Config.CheckGlobals runs the start-up checks that every Postfix program
// applies to all the global parameters (mail_params_init), whether the
// program uses them or not; CheckGlobalSettings does the same for a bare
// Dict (postconf). Host supplies the machine's name, interfaces and
// account database, so that tests can replace them.
//
// # Editing
//
// See edit.go: EditMainCF and EditMaster rewrite the files with Postfix's
// main.cf.tmp / master.cf.tmp lock-and-rename protocol.
//
// Differences from Postfix: the "hot file" delay (postconf and daemons wait
// while main.cf is less than a second old) is not copied; a relational
// expression that references itself reports "unreasonable macro call
// nesting" where Postfix crashes.
package maincf
