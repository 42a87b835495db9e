package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/rotatord/rotatord/internal/printable"
	"github.com/rotatord/rotatord/rotation"
)

// oldPrintTable is printTable as of 57f1a5c^, verbatim but for the name.
func oldPrintTable(w io.Writer, rows []row, now time.Time, withResult bool) {
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

// oldPrintJSON is printJSON as of 57f1a5c^, verbatim but for the name.
func oldPrintJSON(w io.Writer, rows []row) error {
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
	enc := json.NewEncoder(printable.Writer{W: w})
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

var sameAsBeforeTexts = []string{
	"", " ", "ci", "a b", `"`, `"quoted`, `x"y`, "\t", "\n", "\r", "\v", "\f", "\x00", "\x1b[2K", "\x1b]0;t\x07",
	"\u009b2K", "\x9b", "\xff", "\xfe\xff", "\xe6\x97", "日本語キー", "e\u0301\u0301\u0301", "\u200b", "\u202e", "\u2028", "\u2029",
	"\ufeff", "\U0001F600", "\U000E0001", "\U0010FFFF", "\ufffd", "<&>", "\\", "%s%d%!", "ｗｉｄｅ", "\u00a0", "\u3000",
	"a\tb\tc", "x\ny\tz", strings.Repeat("é", 300), strings.Repeat("n", 70000),
}

func sameAsBeforeRows() []row {
	var rs []row
	actions := []rotation.Action{"", rotation.ActionNone, rotation.ActionRotate, rotation.ActionDelete}
	dues := []time.Time{{}, outputNow, outputNow.Add(-time.Hour), outputNow.Add(1500 * time.Millisecond), outputNow.Add(400000 * time.Hour),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", 3600))}
	for i, s := range sameAsBeforeTexts {
		o := rotation.Outcome{
			Policy:    sameAsBeforeTexts[(i*7)%len(sameAsBeforeTexts)],
			Name:      s,
			Decision:  rotation.Decision{Action: actions[i%len(actions)], Reason: rotation.Reason(sameAsBeforeTexts[(i*3)%len(sameAsBeforeTexts)]), Due: dues[i%len(dues)]},
			LastError: sameAsBeforeTexts[(i*5)%len(sameAsBeforeTexts)],
		}
		for range i % 4 {
			o.KeyIDs = append(o.KeyIDs, s)
		}
		if i%2 == 0 {
			o.Err = errors.New("create " + s)
		}
		if i%5 == 0 {
			o.KeyIDs = []string{}
		}
		rs = append(rs, row{Outcome: o, Result: sameAsBeforeTexts[(i*11)%len(sameAsBeforeTexts)]})
	}
	return rs
}

func compareWithOld(t *testing.T, rs []row) {
	t.Helper()
	for _, wr := range []bool{false, true} {
		var want, got bytes.Buffer
		oldPrintTable(&want, rs, outputNow, wr)
		if err := printTable(&got, sliceRows(rs), outputNow, wr); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("table withResult=%v differs:\n got %q\nwant %q", wr, got.String(), want.String())
		}
	}
	var want, got bytes.Buffer
	werr := oldPrintJSON(&want, rs)
	gerr := printJSON(&got, sliceRows(rs))
	if (werr == nil) != (gerr == nil) || got.String() != want.String() {
		t.Errorf("json differs (errors %v / %v):\n got %q\nwant %q", gerr, werr, got.String(), want.String())
	}
}

// TestOutputMatchesOldPrinters compares against the code before 57f1a5c:
// every row alone, all rows together, zero rows.
func TestOutputMatchesOldPrinters(t *testing.T) {
	rs := sameAsBeforeRows()
	compareWithOld(t, nil)
	compareWithOld(t, rs)
	for i := range rs {
		compareWithOld(t, rs[i:i+1])
	}
}

func FuzzOutputMatchesOldPrinters(f *testing.F) {
	f.Add("ci", "x\x1b[2K", "reason", "err", "last", "rotated", int64(5), uint8(2), true)
	f.Add("", "\xff", "", "", "", "", int64(0), uint8(0), false)
	f.Fuzz(func(t *testing.T, policy, name, reason, errText, last, result string, due int64, keys uint8, hasErr bool) {
		o := rotation.Outcome{Policy: policy, Name: name, LastError: last,
			Decision: rotation.Decision{Action: rotation.Action(result), Reason: rotation.Reason(reason)}}
		if due != 0 {
			o.Decision.Due = outputNow.Add(time.Duration(due))
		}
		for range keys % 4 {
			o.KeyIDs = append(o.KeyIDs, name)
		}
		if hasErr {
			o.Err = errors.New(errText)
		}
		r := row{Outcome: o, Result: result}
		compareWithOld(t, []row{r})
		compareWithOld(t, []row{r, {Outcome: rotation.Outcome{Policy: name, Name: policy}}, r})
	})
}
