package dict

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"io"
	"os"
	"strings"
)

// logicalLine is one logical line of a table source file.
type logicalLine struct {
	text   string
	lineno int // number of the line where the logical line starts
}

// readLogicalLines splits table source text into logical lines like
// Postfix's readllines: comment lines (first non-space character '#') and
// blank lines are skipped, and a line that starts with white space
// continues the previous one. A continuation without a preceding line is
// skipped with Postfix's warning.
func readLogicalLines(r *Registry, path string, src []byte) []logicalLine {
	var out []logicalLine
	var cur []byte
	curLine := 0
	flush := func() {
		if len(cur) == 0 {
			return
		}
		if isSpace(cur[0]) {
			s := string(cur)
			more := ""
			if len(s) > 30 {
				s, more = s[:30], "..."
			}
			r.warnf("%s: logical line must not start with whitespace: \"%s%s\"", path, s, more)
		} else {
			out = append(out, logicalLine{text: string(cur), lineno: curLine})
		}
		cur = nil
	}
	lineno := 0
	for len(src) > 0 {
		var line []byte
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			line, src = src, nil
		}
		lineno++
		j := 0
		for j < len(line) && isSpace(line[j]) {
			j++
		}
		if j == len(line) || line[j] == '#' {
			continue
		}
		if !isSpace(line[0]) {
			flush()
			curLine = lineno
		} else if len(cur) == 0 {
			curLine = lineno
		}
		cur = append(cur, line...)
	}
	flush()
	return out
}

// openSource returns the text of a table named by a path, or by an inline
// "{{rule} {rule} ...}" list (one rule per line), as Postfix's
// dict_stream_open does for cidr, regexp and pcre tables.
func openSource(typ, name string) ([]byte, error) {
	if strings.HasPrefix(name, "{") {
		inner, err := extparNoStrip(name)
		var b strings.Builder
		for err == "" {
			tok, rest, ok := NextToken(inner, Separators)
			if !ok {
				break
			}
			inner = rest
			var rule string
			rule, err = extpar(tok)
			if err == "" {
				b.WriteString(rule)
				b.WriteByte('\n')
			}
		}
		if err != "" {
			return nil, fmt.Errorf("%s map: %s", typ, err)
		}
		return []byte(b.String()), nil
	}
	b, err := readFile(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %s", name, syserr.Text(err))
	}
	return b, nil
}

// extparNoStrip removes the outer braces without trimming, returning
// Postfix's error text when they are not balanced.
func extparNoStrip(s string) (string, string) {
	n := balpar(s)
	if n == 0 {
		return s[1:], "missing '}' in \"" + s + "\""
	}
	if n != len(s) {
		return s[1 : n-1], "syntax error after '}' in \"" + s + "\""
	}
	return s[1 : n-1], ""
}

// maxSourceSize bounds a table source file.
const maxSourceSize = 64 << 20

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(bufio.NewReader(io.LimitReader(f, maxSourceSize+1)))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSourceSize {
		return nil, errors.New("file too large")
	}
	return b, nil
}
