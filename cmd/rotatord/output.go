package main

import (
	"bufio"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rotatord/rotatord/internal/printable"
	"github.com/rotatord/rotatord/rotation"
)

// row is one key name's line: its outcome and, for once, what came of it.
type row struct {
	rotation.Outcome
	Result string // "" for plan, which does nothing
}

// rows gives the lines of a table one at a time: the outcomes of a pass
// over 10,000 names are printed without a copy of them, which would come
// on top of the largest heap of the process, at its end.
type rows struct {
	n  int
	at func(i int) row
}

// outcomeRows is plan's rows: the outcomes as they are.
func outcomeRows(out []rotation.Outcome) rows {
	return rows{len(out), func(i int) row { return row{Outcome: out[i]} }}
}

// The RESULT column of once: issue #12's values (rotated, failed,
// skipped, deleted), and two of rotatord's own for what the issue does not
// name (a recovery, a name that needs an operator). A name the pass did
// nothing to is skipped, whatever the reason: REASON says which (younger
// than max_age, a grace period running, a backoff, rotatord's own key).
const (
	resultRotated   = "rotated"   // a new key was delivered to every sink
	resultRecovered = "recovered" // an interrupted rotation was finished or rolled back
	resultDeleted   = "deleted"   // old keys whose grace period was over were deleted
	resultFailed    = "failed"    // see ERROR; once exits 1
	resultSkipped   = "skipped"   // nothing done now: see REASON (and NEXT)
	resultBlocked   = "blocked"   // cannot go on without an operator: see REASON
)

// resultOf says what came of an outcome of once. passed is the pass's
// action when it rotated or recovered the name before a deletion round
// replaced its outcome (grace_period 0: the old keys deleted, or waiting
// for the next window), "" otherwise.
func resultOf(o rotation.Outcome, passed rotation.Action) string {
	switch {
	case o.Err != nil:
		return resultFailed
	case passed == rotation.ActionRotate || o.Decision.Action == rotation.ActionRotate:
		return resultRotated
	case passed == rotation.ActionRecover || o.Decision.Action == rotation.ActionRecover:
		return resultRecovered
	case o.Decision.Action == rotation.ActionDelete:
		return resultDeleted
	}
	switch o.Decision.Reason {
	case rotation.ReasonTwoKeys, rotation.ReasonStuck:
		return resultBlocked
	}
	return resultSkipped
}

// passedAt is passed[i], "" past its end (a name only the deletion round
// handled).
func passedAt(passed []rotation.Action, i int) rotation.Action {
	if i < len(passed) {
		return passed[i]
	}
	return ""
}

// printRows prints the rows as a table, or as JSON for scripts. withResult
// adds the RESULT column (once).
func printRows(w io.Writer, t rows, now time.Time, asJSON, withResult bool) error {
	if asJSON {
		return printJSON(w, t)
	}
	return printTable(w, t, now, withResult)
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

// printJSON prints the rows as one JSON array, an element at a time, as
// json.Encoder with an indent of two spaces would print the whole array.
// encoding/json escapes every control character, so a hostile name stays
// a string.
func printJSON(w io.Writer, t rows) error {
	// Every element is encoded once before anything is written, so that
	// one that cannot be (a due time past the year 9999, which
	// time.Time refuses) fails the output whole instead of leaving half
	// an array on stdout.
	for i := range t.n {
		if _, err := json.Marshal(jsonOf(t.at(i))); err != nil {
			return err
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	// Scripts' output ends on terminals too: bidirectional overrides and
	// other runes encoding/json passes raw are escaped as \uXXXX as well.
	// Each write is whole elements, so no rune is split between two.
	pw := printable.Writer{W: bw}
	if t.n == 0 {
		if _, err := io.WriteString(pw, "[]\n"); err != nil {
			return err
		}
		return bw.Flush()
	}
	if _, err := io.WriteString(pw, "[\n"); err != nil {
		return err
	}
	for i := range t.n {
		b, err := json.MarshalIndent(jsonOf(t.at(i)), "  ", "  ")
		if err != nil {
			return err
		}
		end := ",\n"
		if i == t.n-1 {
			end = "\n]\n"
		}
		if _, err := pw.Write(append(append([]byte("  "), b...), end...)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// jsonOf is r as an element of -o json.
func jsonOf(r row) outcomeJSON {
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
	return j
}

// printOutcomes prints plan's table.
func printOutcomes(w io.Writer, out []rotation.Outcome, now time.Time) {
	printTable(w, outcomeRows(out), now, false)
}

// tableGap is the spaces between two columns.
const tableGap = 2

// printTable prints one line per key name: what was (or would be) done,
// why, and (withResult) what came of it. The columns are as wide as
// their widest cell (in runes) and two spaces, the last one as it is:
// text/tabwriter's layout, without holding every cell of the table until
// the end (with the copy of the outcomes it printed from, that took the
// end of a forced pass over 10,000 names 1.6 MB above the pass itself, to
// the process's peak); the cells of a line are worked out twice instead,
// once for the widths.
//
// Key names are chosen by whoever may create API keys, and error texts can
// quote them: every text field goes through cell, so that no name can move
// the cursor, erase a line, or forge a column or a row of the table.
func printTable(w io.Writer, t rows, now time.Time, withResult bool) error {
	header := []string{"POLICY", "NAME", "KEYS", "ACTION", "REASON", "NEXT", "ERROR"}
	if withResult {
		header = slices.Insert(header, 4, "RESULT")
	}
	widths := make([]int, len(header)-1)
	line := make([]string, len(header))
	measure := func(cells []string) {
		for c := range widths {
			widths[c] = max(widths[c], utf8.RuneCountInString(cells[c]))
		}
	}
	measure(header)
	for i := range t.n {
		measure(tableCells(line, t.at(i), now, withResult))
	}
	// Buffered: the table of a pass over 10,000 names is a few system
	// calls, where a write per cell and padding would be 160,000.
	bw := bufio.NewWriterSize(w, 64<<10)
	var b []byte
	emit := func(cells []string) error {
		b = b[:0]
		for c, text := range cells {
			b = append(b, text...)
			if c < len(widths) {
				// max: a cell longer than it measured (rows are read
				// twice) gets a ragged line, not a panic.
				b = append(b, strings.Repeat(" ", max(0, widths[c]-utf8.RuneCountInString(text))+tableGap)...)
			}
		}
		_, err := bw.Write(append(b, '\n'))
		return err
	}
	if err := emit(header); err != nil {
		return err
	}
	for i := range t.n {
		if err := emit(tableCells(line, t.at(i), now, withResult)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// tableCells fills line with the cells of o's line and returns it.
func tableCells(line []string, o row, now time.Time, withResult bool) []string {
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
	line = append(line[:0], cell(o.Policy, true), cell(o.Name, true), strconv.Itoa(len(o.KeyIDs)), cell(string(o.Decision.Action), true))
	if withResult {
		line = append(line, cell(o.Result, true))
	}
	return append(line, reason, next, errText)
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
