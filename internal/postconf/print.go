package postconf

import (
	"io"
	"strings"
)

const (
	lineLimit  = 80     // fold lines that would get longer than this
	indentText = "    " // continuation line indent
	separators = " \t\r\n"
)

// printLine writes text as one output line with its white space
// normalised: runs of space, TAB, CR and LF become one space, and leading
// and trailing white space is dropped. With modeFoldLine, a word that
// would make the line 80 columns or longer starts a new line indented by
// four spaces.
func printLine(w io.Writer, mode int, text string) {
	var b strings.Builder
	lineLen := 0
	for _, word := range strings.FieldsFunc(text, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}) {
		if lineLen > 0 {
			if mode&modeFoldLine == 0 || lineLen+len(word) < lineLimit {
				b.WriteByte(' ')
				lineLen++
			} else {
				b.WriteString("\n" + indentText)
				lineLen = len(indentText)
			}
		}
		b.WriteString(word)
		lineLen += len(word)
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}
