package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/rotatord/rotatord/rotation"
)

// row is one key name's line: its outcome and, for once, what came of it.
type row struct {
	rotation.Outcome
	Result string // "" for plan, which does nothing
}

// The RESULT column of once.
const (
	resultRotated   = "rotated"   // a new key was delivered to every sink
	resultRecovered = "recovered" // an interrupted rotation was finished or rolled back
	resultDeleted   = "deleted"   // old keys whose grace period was over were deleted
	resultFailed    = "failed"    // see ERROR; once exits 1
	resultSkipped   = "skipped"   // a name rotatord never touches (its own key)
	resultWaiting   = "waiting"   // nothing to do yet: a grace period, a backoff, a create settling
	resultBlocked   = "blocked"   // cannot go on without an operator: see REASON
	resultUnchanged = "unchanged" // younger than max_age
)

// resultOf says what came of an outcome of once. rotated says the pass
// rotated the name before a deletion replaced its outcome (grace_period 0).
func resultOf(o rotation.Outcome, rotated bool) string {
	switch {
	case o.Err != nil:
		return resultFailed
	case rotated || o.Decision.Action == rotation.ActionRotate:
		return resultRotated
	case o.Decision.Action == rotation.ActionRecover:
		return resultRecovered
	case o.Decision.Action == rotation.ActionDelete:
		return resultDeleted
	case o.Decision.Action == rotation.ActionSkip:
		return resultSkipped
	}
	switch o.Decision.Reason {
	case "", rotation.ReasonFresh:
		return resultUnchanged
	case rotation.ReasonTwoKeys, rotation.ReasonStuck:
		return resultBlocked
	}
	return resultWaiting
}

// printRows prints the rows as a table, or as JSON for scripts. withResult
// adds the RESULT column (once).
func printRows(w io.Writer, rows []row, now time.Time, asJSON, withResult bool) error {
	if asJSON {
		return printJSON(w, rows)
	}
	printTable(w, rows, now, withResult)
	return nil
}

// outcomeJSON is one element of -o json: what scripts may rely on.
type outcomeJSON struct {
	Policy  string     `json:"policy"`
	Name    string     `json:"name"`
	KeyIDs  []string   `json:"key_ids"`
	Action  string     `json:"action"`
	Reason  string     `json:"reason,omitempty"`
	NextDue *time.Time `json:"next_due,omitempty"`
	Result  string     `json:"result,omitempty"`
	Error   string     `json:"error,omitempty"`
	// LastError is the last failure of the name, while it backs off.
	LastError string `json:"last_error,omitempty"`
}

// printJSON prints the rows as one JSON array. encoding/json escapes
// every control character, so a hostile name stays a string.
func printJSON(w io.Writer, rows []row) error {
	out := make([]outcomeJSON, 0, len(rows))
	for _, r := range rows {
		j := outcomeJSON{
			Policy: r.Policy, Name: r.Name, KeyIDs: r.KeyIDs,
			Action: string(r.Decision.Action), Reason: string(r.Decision.Reason), Result: r.Result,
		}
		if j.KeyIDs == nil {
			j.KeyIDs = []string{}
		}
		if j.Action == "" {
			j.Action = string(rotation.ActionNone)
		}
		if !r.Decision.Due.IsZero() {
			due := r.Decision.Due.UTC()
			j.NextDue = &due
		}
		if r.Err != nil {
			j.Error = r.Err.Error()
		}
		j.LastError = r.LastError
		out = append(out, j)
	}
	// Scripts' output ends on terminals too: bidirectional overrides and
	// other runes encoding/json passes raw are escaped as \uXXXX as well.
	enc := json.NewEncoder(printableWriter{w})
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// printOutcomes prints plan's table.
func printOutcomes(w io.Writer, out []rotation.Outcome, now time.Time) {
	rows := make([]row, len(out))
	for i, o := range out {
		rows[i] = row{Outcome: o}
	}
	printTable(w, rows, now, false)
}

// printTable prints one line per key name: what was (or would be) done,
// why, and (withResult) what came of it.
//
// Key names are chosen by whoever may create API keys, and error texts can
// quote them: every text field goes through cell, so that no name can move
// the cursor, erase a line, or forge a column or a row of the table.
func printTable(w io.Writer, rows []row, now time.Time, withResult bool) {
	// tabwriter writes each cell and its padding on its own: buffered, the
	// table of a pass over 10,000 names is a few system calls instead of
	// 160,000.
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	result := ""
	if withResult {
		result = "RESULT\t"
	}
	fmt.Fprintf(tw, "POLICY\tNAME\tKEYS\tACTION\t%sREASON\tNEXT\tERROR\n", result)
	for _, o := range rows {
		next := "-"
		if !o.Decision.Due.IsZero() {
			next = "in " + o.Decision.Due.Sub(now).Round(time.Second).String()
		}
		errText := "-"
		switch {
		case o.Err != nil:
			errText = cell(o.Err.Error(), false)
		case o.LastError != "":
			errText = cell("last failure: "+o.LastError, false)
		}
		reason := "-"
		if o.Decision.Reason != "" {
			reason = cell(string(o.Decision.Reason), false)
		}
		if withResult {
			result = cell(o.Result, true) + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s%s\t%s\t%s\n",
			cell(o.Policy, true), cell(o.Name, true), len(o.KeyIDs),
			cell(string(o.Decision.Action), true), result, reason, next, errText)
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
