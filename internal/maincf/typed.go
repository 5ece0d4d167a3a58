package maincf

import (
	"fmt"
	"strings"
	"time"
)

// ParseBool converts a boolean parameter value the way Postfix does: "yes"
// or "no" in any case. The error is "bad boolean configuration: NAME = VALUE".
func ParseBool(name, value string) (bool, error) {
	switch {
	case strings.EqualFold(value, "yes"):
		return true, nil
	case strings.EqualFold(value, "no"):
		return false, nil
	}
	return false, fmt.Errorf("%s", Printable(fmt.Sprintf("bad boolean configuration: %s = %s", name, value)))
}

// parseCLong is C's strtol() used as Postfix uses it for numbers: the
// whole string must be a (possibly signed, possibly space-led) base-10
// number that fits in 64 bits.
func parseCLong(value string) (int64, bool) {
	v, n, overflow := CStrtol(value)
	if value == "" || n != len(value) || overflow {
		return 0, false
	}
	return v, true
}

// ParseInt converts an int parameter value (32-bit, like a C int) and
// checks it against min and max (0 = no limit).
func ParseInt(name, value string, min, max int) (int, error) {
	v, ok := parseCLong(value)
	if !ok || v != int64(int32(v)) {
		return 0, fmt.Errorf("%s", Printable(fmt.Sprintf("bad numerical configuration: %s = %s", name, value)))
	}
	if min != 0 && int(v) < min {
		return 0, fmt.Errorf("invalid %s parameter value %d < %d", name, v, min)
	}
	if max != 0 && int(v) > max {
		return 0, fmt.Errorf("invalid %s parameter value %d > %d", name, v, max)
	}
	return int(v), nil
}

// ParseLong converts a long parameter value and checks it against min and
// max (0 = no limit).
func ParseLong(name, value string, min, max int64) (int64, error) {
	v, ok := parseCLong(value)
	if !ok {
		return 0, fmt.Errorf("%s", Printable(fmt.Sprintf("bad numerical configuration: %s = %s", name, value)))
	}
	if min != 0 && v < min {
		return 0, fmt.Errorf("invalid %s parameter value %d < %d", name, v, min)
	}
	if max != 0 && v > max {
		return 0, fmt.Errorf("invalid %s parameter value %d > %d", name, v, max)
	}
	return v, nil
}

// DefaultTimeUnit returns the first letter of an (expanded) default time
// value, the unit Postfix applies to values written without one; 's' when
// the default has no letter.
func DefaultTimeUnit(def string) byte {
	for i := 0; i < len(def); i++ {
		if isAlpha(def[i]) {
			return def[i]
		}
	}
	return 's'
}

// ConvTime converts a time value like Postfix's conv_time(): a
// non-negative integer that fits a C int, followed by an optional unit
// (s, m, h, d, w; anything after the unit letter is ignored), else unit is
// used. It returns the number of seconds and false for a bad value.
func ConvTime(value string, unit byte) (int, bool) {
	v, n, overflow := CStrtol(value)
	if value == "" || overflow || v != int64(int32(v)) || v < 0 {
		return 0, false
	}
	u := unit
	if n < len(value) {
		u = value[n]
	}
	const maxInt = 1<<31 - 1
	mult := int64(0)
	switch u {
	case 'w':
		mult = 7 * 24 * 3600
	case 'd':
		mult = 24 * 3600
	case 'h':
		mult = 3600
	case 'm':
		mult = 60
	case 's':
		return int(v), true
	default:
		return 0, false
	}
	if v >= maxInt/mult {
		return 0, false
	}
	return int(v * mult), true
}

// ParseTime converts a time parameter value with the default unit and
// checks it against min and max (0 = no limit; whole seconds).
func ParseTime(name, value string, unit byte, min, max time.Duration) (time.Duration, error) {
	secs, ok := ConvTime(value, unit)
	if !ok {
		return 0, fmt.Errorf("%s", Printable(fmt.Sprintf("parameter %s: bad time value or unit: %s", name, value)))
	}
	minS, maxS := int(min/time.Second), int(max/time.Second)
	if minS != 0 && secs < minS {
		return 0, fmt.Errorf("invalid %s: %d (min %d)", name, secs, minS)
	}
	if maxS != 0 && secs > maxS {
		return 0, fmt.Errorf("invalid %s: %d (max %d)", name, secs, maxS)
	}
	return time.Duration(secs) * time.Second, nil
}

// SplitList splits a list value on commas and white space (", \t\r\n"),
// keeping {...} groups together with their braces, like Postfix's
// mystrtokq().
func SplitList(value string) []string {
	return splitQuoted(value, ", \t\r\n")
}
