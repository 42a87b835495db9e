package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/rotation"
)

// A NEXT due time whose year is past 9999 (time.Time.MarshalJSON refuses
// it) after more than 64 KiB of elements: before 57f1a5c -o json printed
// nothing and failed; 57f1a5c failed after printing a truncated, invalid
// array (the bufio.Writer had flushed the first 64 KiB). It must print
// nothing again.
func TestJSONMarshalErrorPrintsNothing(t *testing.T) {
	rs := make([]row, 600)
	for i := range rs {
		rs[i] = row{Outcome: rotation.Outcome{Policy: "ci", Name: fmt.Sprintf("ci-%04d-%s", i, strings.Repeat("n", 100))}}
	}
	rs = append(rs, row{Outcome: rotation.Outcome{Policy: "ci", Name: "ci-far",
		Decision: rotation.Decision{Reason: rotation.ReasonFresh, Due: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}})
	var old, got bytes.Buffer
	oerr := oldPrintJSON(&old, rs)
	gerr := printJSON(&got, sliceRows(rs))
	t.Logf("before: err %v, %d bytes; after: err %v, %d bytes", oerr, old.Len(), gerr, got.Len())
	if oerr == nil || gerr == nil {
		t.Fatal("want both to fail")
	}
	if got.Len() != old.Len() {
		t.Errorf("on a marshal error -o json now prints %d bytes of a truncated array (before: %d)", got.Len(), old.Len())
	}
}

// printTable reads every cell twice (widths, then lines): in 57f1a5c, which
// padded with strings.Repeat(" ", width-len+2), a cell that came out more
// than two runes longer the second time panicked instead of printing a
// ragged line.
// Theoretical today: the rows of once and plan read fixed outcomes, and
// every error type in the tree has a deterministic Error().
func TestCellsReadTwice(t *testing.T) {
	calls := 0
	rs := rows{1, func(int) row {
		calls++
		return row{Outcome: rotation.Outcome{Policy: strings.Repeat("p", calls*10), Name: "ci"}}
	}}
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("printTable panicked when a cell changed between its two reads: %v", r)
		}
	}()
	var buf bytes.Buffer
	_ = printTable(&buf, rs, outputNow, true)
}
