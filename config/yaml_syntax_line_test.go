package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestSyntaxErrorsNameTheirLine: validate says file:line for every
// problem, syntax errors included. yaml.v3 reports the line a parser error
// is found in one too low (it gives the 0-based line of the construct the
// error is in: an indentation mistake on line 4 is "line 2"), no line at
// all for a problem on line 1 or an unknown alias: the operator looks at
// the wrong line, or at none.
func TestSyntaxErrorsNameTheirLine(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		line      int
	}{
		{"tab on line 1", "\tpolicies: []\n", 1},
		{"character on line 1", "@policies: []\n", 1},
		{"indentation", "state_dir: x\npolicies:\n  - name: a\n   schedule: 1\n", 4},
		{"unclosed flow mapping", "state_dir: x\nlisten: {a: 1\nb: 2\n", 2},
		// The sequence opened on line 4 runs on through line 5 ("2
		// listen: 3" is a plain scalar there): the parser stops at its end.
		{"unclosed flow sequence", "state_dir: x\npolicies:\n  - name: a\n    sinks: [1,\n  2\nlisten: 3\n", 5},
		{"list item after a mapping", "state_dir: x\nlisten: 1\n- a\n", 3},
		{"unknown alias", "state_dir: x\n\n\nlisten: &a x\nx: *b\n", 5},
		{"tab on line 2", "exoscale:\n\tapi_key: x\n", 2},
		{"mapping value in a value", "state_dir: x\nlisten: a: b\n", 2},
		{"second document", "state_dir: x\n---\nlisten: [\n", 3},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		var errs *Errors
		if !errors.As(err, &errs) || len(*errs) != 1 {
			t.Errorf("%s: want one problem, got %v", c.name, err)
			continue
		}
		if p := (*errs)[0]; p.Line != c.line {
			t.Errorf("%s: problem %q on line %d, want line %d", c.name, p.Error(), p.Line, c.line)
		}
	}
}

// TestUnquotedStarSaysToQuote: a cron spec or a days list written without
// quotes (`schedule: */5 * * * *`, `days: [*]`) is a YAML alias to the
// parser, which answered only "did not find expected alphabetic or
// numeric character", and `schedule: @hourly` "found character that
// cannot start any token". The message says to quote the value.
func TestUnquotedStarSaysToQuote(t *testing.T) {
	for _, doc := range []string{
		"policies:\n  - name: ci\n    schedule: */5 * * * *\n",
		"policies:\n  - name: ci\n    windows: [{days: [*], start: \"09:00\", end: \"10:00\"}]\n",
		"policies:\n  - name: ci\n    schedule: @hourly\n",
	} {
		_, err := Parse([]byte(doc), "f.yml", "/tmp")
		if err == nil || !strings.Contains(err.Error(), "f.yml:3:") || !strings.Contains(err.Error(), "quote") {
			t.Errorf("want line 3 and a hint to quote the value, got %v", err)
		}
	}
}

// TestUnknownAliasLineInALongFile: yaml.v3 gives no line for an unknown
// alias, and the line was found by parsing the file's first lines one
// more at a time from the top: in a file of 500 policies with the alias
// near its end, that parsed tens of megabytes (seconds of CPU at each
// validate and reload) and then gave up, naming no line. The alias's
// line is found from where `*name` is written.
func TestUnknownAliasLineInALongFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("policies:\n")
	for i := range 500 {
		fmt.Fprintf(&b, "  - name: p%d # not *nope\n    match: {name: \"x*nope\"}\n    sinks: [{type: file, path: /tmp/x/p%d}]\n", i, i)
	}
	b.WriteString("  - name: *nope\n")
	_, err := Parse([]byte(b.String()), "f.yml", "/tmp")
	if want := "f.yml:1502: unknown anchor 'nope' referenced"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestSyntaxErrorsNameTheirLineWithCR: YAML ends a line in LF, CR LF or a
// lone CR, and yaml.v3 counts lines so; the search for the line the parser
// stopped at, and for the value to quote, counted LFs only: in a file
// whose lines end in a lone CR every syntax error was on line 1, and the
// hint to quote `*/5 * * * *` or `@hourly` was missing.
func TestSyntaxErrorsNameTheirLineWithCR(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		line      int
		hint      bool
	}{
		{"indentation", "state_dir: x\npolicies:\n  - name: a\n   schedule: 1\n", 4, false},
		{"list item after a mapping", "state_dir: x\nlisten: 1\n- a\n", 3, false},
		{"unknown alias", "state_dir: x\n\n\nlisten: &a x\nx: *b\n", 5, false},
		{"tab on line 2", "exoscale:\n\tapi_key: x\n", 2, false},
		{"star", "policies:\n  - name: ci\n    schedule: */5 * * * *\n", 3, true},
		{"at", "policies:\n  - name: ci\n    schedule: @hourly\n", 3, true},
	} {
		for _, eol := range []string{"\r", "\r\n"} {
			_, err := Parse([]byte(strings.ReplaceAll(c.doc, "\n", eol)), "f.yml", "/tmp")
			var errs *Errors
			if !errors.As(err, &errs) || len(*errs) != 1 {
				t.Errorf("%s, lines ending in %q: want one problem, got %v", c.name, eol, err)
				continue
			}
			p := (*errs)[0]
			if p.Line != c.line {
				t.Errorf("%s, lines ending in %q: problem %q on line %d, want line %d", c.name, eol, p.Error(), p.Line, c.line)
			}
			if c.hint && !strings.Contains(p.Msg, "quote") {
				t.Errorf("%s, lines ending in %q: no hint to quote: %q", c.name, eol, p.Msg)
			}
		}
	}
}
