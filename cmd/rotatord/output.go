package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/rotatord/rotatord/rotation"
)

// printOutcomes prints one line per key name: what was (or would be) done and why.
//
// Key names are chosen by whoever may create API keys, and error texts can
// quote them: every text field goes through cell, so that no name can move
// the cursor, erase a line, or forge a column or a row of the table.
func printOutcomes(w io.Writer, out []rotation.Outcome, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tNAME\tKEYS\tACTION\tREASON\tNEXT\tERROR")
	for _, o := range out {
		next := "-"
		if !o.Decision.Due.IsZero() {
			next = "in " + o.Decision.Due.Sub(now).Round(time.Second).String()
		}
		errText := "-"
		if o.Err != nil {
			errText = cell(o.Err.Error(), false)
		}
		reason := "-"
		if o.Decision.Reason != "" {
			reason = cell(string(o.Decision.Reason), false)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n",
			cell(o.Policy, true), cell(o.Name, true), len(o.KeyIDs),
			cell(string(o.Decision.Action), true), reason, next, errText)
	}
	tw.Flush()
}

// cell returns s as it should appear in a table cell: unchanged when every
// character is printable, and otherwise quoted the way Go quotes strings
// (strconv.Quote), which escapes control characters (ESC, CR, newline, tab,
// ...), other non-printable runes (bidirectional overrides, zero-width and
// non-ASCII spaces, ...) and invalid UTF-8. A text that starts with a double
// quote is quoted too, so that a quoted cell always means escaping happened.
// word is for a one-word field (policy, name, action): a space there, or an
// empty text, would make a cell look like another, so it is quoted as well.
func cell(s string, word bool) string {
	if needsQuoting(s, word) {
		return strconv.Quote(s)
	}
	return s
}

func needsQuoting(s string, word bool) bool {
	if word && (s == "" || strings.Contains(s, " ")) {
		return true
	}
	if strings.HasPrefix(s, `"`) || !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		// IsPrint admits letters, marks, numbers, punctuation, symbols
		// and the ASCII space; tab and every other control character or
		// space are not.
		if !strconv.IsPrint(r) {
			return true
		}
	}
	return false
}
