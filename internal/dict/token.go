package dict

import "strings"

// Separators Postfix uses between list items (CHARS_COMMA_SP).
const Separators = ", \t\r\n"

// NextToken returns the next item of s separated by any of sep, like
// Postfix's mystrtokq with "{}" grouping: separators inside braces do not
// split, and the braces are kept. rest is what follows the item's
// terminating separator. ok is false when only separators remain.
func NextToken(s, sep string) (tok, rest string, ok bool) {
	i := 0
	for i < len(s) && strings.IndexByte(sep, s[i]) >= 0 {
		i++
	}
	if i == len(s) {
		return "", "", false
	}
	start := i
	level := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{':
			level++
		case level > 0 && c == '}':
			level--
		case level == 0 && strings.IndexByte(sep, c) >= 0:
			return s[start:i], s[i+1:], true
		}
	}
	return s[start:], "", true
}

// balpar returns the length of the brace group at the start of s, or 0.
func balpar(s string) int {
	if s == "" || s[0] != '{' {
		return 0
	}
	level := 1
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '}':
			level--
			if level == 0 {
				return i + 1
			}
		case '{':
			level++
		}
	}
	return 0
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// extpar strips one level of braces from s (which starts with '{') and
// surrounding white space, returning Postfix's error text when the braces
// are unbalanced or followed by other text.
func extpar(s string) (string, string) {
	if s == "" || s[0] != '{' {
		return trimSpace(s), "no '{' at start of text in \"" + s + "\""
	}
	n := balpar(s)
	if n == 0 {
		return trimSpace(s[1:]), "missing '}' in \"" + s + "\""
	}
	var err string
	if n != len(s) {
		err = "syntax error after '}' in \"" + s + "\""
	}
	return trimSpace(s[1 : n-1]), err
}

// splitQNameVal splits "key = value" where the key may contain quoted
// white space or '=' and backslash escapes (Postfix's split_qnameval).
func splitQNameVal(s string) (key, value, err string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) {
		return "", "", "no key found; expected format: key = value"
	}
	start := i
	inQuotes := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			if i >= len(s) {
				break
			}
		} else if isSpace(c) || c == '=' {
			if !inQuotes {
				break
			}
		} else if c == '"' {
			inQuotes = !inQuotes
		}
	}
	if inQuotes {
		return "", "", "unbalanced '\"'"
	}
	end := min(i, len(s))
	j := end
	for j < len(s) && isSpace(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '=' {
		return "", "", "missing '=' after attribute name"
	}
	j++
	return s[start:end], trimSpace(s[j:]), ""
}
