package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestShortCampaign runs a couple of dozen cycles on every change (about a
// minute and a half on two cores); the full campaign (200 cycles and more)
// is `go run ./test/chaos -cycles 500 -seed N`.
func TestShortCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos campaign builds and runs the real binaries")
	}
	cycles := 20
	if v := os.Getenv("ROTATORD_CHAOS_CYCLES"); v != "" {
		if _, err := fmt.Sscan(v, &cycles); err != nil {
			t.Fatalf("ROTATORD_CHAOS_CYCLES=%q: %v", v, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var progress strings.Builder
	sum, err := Run(ctx, Config{Seed: 7, Cycles: cycles, Names: 18, MaxUp: 2500 * time.Millisecond, Verbose: &progress})
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
	if sum.Kills+sum.Terms != cycles || sum.Rotations == 0 || sum.Samples < cycles {
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
