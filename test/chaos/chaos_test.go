package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestShortCampaign runs a few dozen kill cycles on every change; the full
// campaign (200 cycles and more) is `go run ./test/chaos`.
func TestShortCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos campaign builds and runs the real binaries")
	}
	cycles := 25
	if v := os.Getenv("ROTATORD_CHAOS_CYCLES"); v != "" {
		if _, err := fmt.Sscan(v, &cycles); err != nil {
			t.Fatalf("ROTATORD_CHAOS_CYCLES=%q: %v", v, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var progress strings.Builder
	sum, err := Run(ctx, Config{Seed: 7, Cycles: cycles, Names: 24, Verbose: &progress})
	if err != nil {
		t.Fatalf("campaign: %v\n%s", err, progress.String())
	}
	t.Log(sum.Line())
	for _, p := range sum.Problems {
		t.Error(p)
	}
	if !sum.OK() {
		t.Fatalf("campaign failed: %s", sum.Line())
	}
	if sum.Kills != cycles || sum.Rotations == 0 {
		t.Errorf("the campaign did not exercise rotatord: %s", sum.Line())
	}
}

func TestSummaryFlagsEveryBrokenInvariant(t *testing.T) {
	good := Summary{MaxKeysPerName: 2, UntouchedOK: true}
	if !good.OK() {
		t.Fatal("a clean summary is not OK")
	}
	for name, bad := range map[string]Summary{
		"outage":    {Outages: 1, MaxKeysPerName: 2, UntouchedOK: true},
		"leak":      {Leaks: 1, MaxKeysPerName: 2, UntouchedOK: true},
		"3 keys":    {MaxKeysPerName: 3, UntouchedOK: true},
		"untouched": {MaxKeysPerName: 2},
		"secret":    {SecretsInLogs: 1, MaxKeysPerName: 2, UntouchedOK: true},
		"problem":   {MaxKeysPerName: 2, UntouchedOK: true, Problems: []string{"x"}},
	} {
		if bad.OK() {
			t.Errorf("%s: summary %+v reported OK", name, bad)
		}
	}
}
