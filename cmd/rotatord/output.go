package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rotatord/rotatord/rotation"
)

// printOutcomes prints one line per key name: what was (or would be) done and why.
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
			errText = o.Err.Error()
		}
		reason := string(o.Decision.Reason)
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", o.Policy, o.Name, len(o.KeyIDs), o.Decision.Action, reason, next, errText)
	}
	tw.Flush()
}
