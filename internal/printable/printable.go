// Package printable owns how rotatord writes text chosen by others (key
// and role names, API and Vault error messages, values from a policy
// file) to a terminal: every rune that is not printable is escaped, so
// that such text cannot move the cursor, erase a line, reorder what is
// shown (a bidirectional override) or pass for a line of rotatord's own.
package printable

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Escape returns s with every rune that is not printable (strconv.IsPrint),
// but newline and tab, written as \uXXXX (a UTF-16 pair above U+FFFF, as
// JSON does, so an escaped JSON line is still valid JSON), and each byte
// of invalid UTF-8 as \ufffd. Printable text is returned as is.
func Escape(s string) string {
	if valid([]byte(s), true) {
		return s
	}
	return string(escape(nil, []byte(s), true))
}

// Line is Escape for text that must stay on one line (an error after
// "rotatord: ", a FAIL line, a table cell): newline and tab are escaped
// too, so a message cannot start a line that looks like rotatord's.
func Line(s string) string {
	if valid([]byte(s), false) {
		return s
	}
	return string(escape(nil, []byte(s), false))
}

// Writer writes what it is given through Escape: for a stream of whole
// lines, such as a log. Each Write must hold whole runes.
type Writer struct{ W io.Writer }

func (w Writer) Write(p []byte) (int, error) {
	if valid(p, true) {
		return w.W.Write(p)
	}
	if _, err := w.W.Write(escape(make([]byte, 0, len(p)+32), p, true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func escape(out, p []byte, keepLines bool) []byte {
	for rest := p; len(rest) > 0; {
		r, n := utf8.DecodeRune(rest)
		switch {
		case r == utf8.RuneError && n == 1:
			out = append(out, `\ufffd`...)
		case keepLines && (r == '\n' || r == '\t') || strconv.IsPrint(r):
			out = append(out, rest[:n]...)
		default:
			units := []uint16{uint16(r)}
			if r > 0xffff {
				hi, lo := utf16.EncodeRune(r)
				units = []uint16{uint16(hi), uint16(lo)}
			}
			for _, u := range units {
				out = fmt.Appendf(out, `\u%04x`, u)
			}
		}
		rest = rest[n:]
	}
	return out
}

// valid reports whether p needs no escaping.
func valid(p []byte, keepLines bool) bool {
	for i := 0; i < len(p); {
		if c := p[i]; c < utf8.RuneSelf {
			if (c < 0x20 && !(keepLines && (c == '\n' || c == '\t'))) || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n == 1 || !strconv.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}

// Lines is Escape for a message that may span lines (errors joined by
// errors.Join): every line after the first is indented by two spaces, so
// that no line of it can pass for one rotatord starts itself.
func Lines(s string) string {
	return strings.ReplaceAll(Escape(s), "\n", "\n  ")
}
