package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/rotatord/rotatord/internal/printable"
	"github.com/rotatord/rotatord/rotation"
)

// layoutRows are rows of every shape the table meets: names of several
// widths, non-ASCII and hostile ones (quoted), errors, last failures,
// due times, keys or none.
func layoutRows(n int) []row {
	r := rand.New(rand.NewPCG(7, 11))
	names := []string{"ci", "ci-runner", "clé-été", "日本語キー", "a b", "x\x1b[2K", "\xff", "", "backup_1"}
	actions := []rotation.Action{rotation.ActionNone, rotation.ActionRotate, rotation.ActionDelete, rotation.ActionSkip, ""}
	results := []string{resultRotated, resultFailed, resultSkipped, resultBlocked}
	out := make([]row, n)
	for i := range out {
		o := rotation.Outcome{
			Policy:   names[r.IntN(len(names))],
			Name:     fmt.Sprintf("%s-%d", names[r.IntN(len(names))], r.IntN(100000)),
			Decision: rotation.Decision{Action: actions[r.IntN(len(actions))]},
		}
		for range r.IntN(3) {
			o.KeyIDs = append(o.KeyIDs, fmt.Sprintf("EXO%x", r.Uint64()))
		}
		switch r.IntN(4) {
		case 0:
			o.Err = errors.New("create " + o.Name + ": 503\tagain")
		case 1:
			o.LastError = "timeout ü"
		}
		if r.IntN(2) == 0 {
			o.Decision.Reason = rotation.ReasonFresh
			o.Decision.Due = outputNow.Add(time.Duration(r.IntN(1e6)) * time.Second)
		}
		out[i] = row{Outcome: o, Result: results[r.IntN(len(results))]}
	}
	return out
}

func sliceRows(rs []row) rows {
	return rows{len(rs), func(i int) row { return rs[i] }}
}

// TestPrintTableLaysOutAsTabwriter: the table printed line by line is
// byte for byte the one text/tabwriter lays out from the same cells
// (minimum width 0, padding 2, spaces), which printed it before.
func TestPrintTableLaysOutAsTabwriter(t *testing.T) {
	for _, n := range []int{0, 1, 2, 50, 1000} {
		for _, withResult := range []bool{false, true} {
			rs := layoutRows(n)
			var want bytes.Buffer
			tw := tabwriter.NewWriter(&want, 0, 4, 2, ' ', 0)
			result := ""
			if withResult {
				result = "RESULT\t"
			}
			fmt.Fprintf(tw, "POLICY\tNAME\tKEYS\tACTION\t%sREASON\tNEXT\tERROR\n", result)
			line := make([]string, 8)
			for _, r := range rs {
				cells := tableCells(line, r, outputNow, withResult)
				for c, text := range cells {
					tw.Write([]byte(text))
					if c < len(cells)-1 {
						tw.Write([]byte{'\t'})
					}
				}
				tw.Write([]byte{'\n'})
			}
			tw.Flush()
			var got bytes.Buffer
			if err := printTable(&got, sliceRows(rs), outputNow, withResult); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("n=%d withResult=%v: the table differs from tabwriter's:\n got:\n%s\nwant:\n%s", n, withResult, got.String(), want.String())
			}
		}
	}
}

// TestPrintJSONAsOneEncodedArray: -o json printed an element at a time is
// byte for byte what json.Encoder with an indent of two printed for the
// whole array (before the printable filter, which both go through).
func TestPrintJSONAsOneEncodedArray(t *testing.T) {
	for _, n := range []int{0, 1, 2, 300} {
		rs := layoutRows(n)
		all := make([]outcomeJSON, 0, n)
		for _, r := range rs {
			all = append(all, jsonOf(r))
		}
		var want bytes.Buffer
		enc := json.NewEncoder(printable.Writer{W: &want})
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := printJSON(&got, sliceRows(rs)); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("n=%d: the JSON differs from one encoded array:\n got:\n%s\nwant:\n%s", n, got.String(), want.String())
		}
	}
}
