package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/internal/kubetest"
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
	if sum.Kills+sum.Terms != cycles || sum.Rotations == 0 || sum.OwnRotations == 0 || sum.Samples < cycles {
		t.Errorf("the campaign did not exercise rotatord: %s", sum.Line())
	}
}

// TestShortCampaignAgainstAnotherStandIn runs a few cycles with rotatord
// talking to exosim through the mangler: answers another stand-in of the
// API could give (role ids in another case, optional fields left out,
// listings reordered, connections closed, bodies cut short).
func TestShortCampaignAgainstAnotherStandIn(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos campaign builds and runs the real binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var progress strings.Builder
	sum, err := Run(ctx, Config{Seed: 11, Cycles: 8, Names: 12, MaxUp: 2500 * time.Millisecond, Verbose: &progress, Mangle: true})
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
	if sum.Rotations == 0 || !strings.Contains(sum.Line(), " mangled=") {
		t.Errorf("the campaign did not exercise rotatord through the mangler: %s", sum.Line())
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
		"3 own":     {MaxKeysPerName: 2, MaxOwnKeys: 3, UntouchedOK: true},
		"untouched": {MaxKeysPerName: 2},
		"secret":    {SecretsInLogs: 1, MaxKeysPerName: 2, UntouchedOK: true},
		"problem":   {MaxKeysPerName: 2, UntouchedOK: true, Problems: []string{"x"}},
		"overlap":   {MaxKeysPerName: 2, UntouchedOK: true, OverlappingLeaders: 1},
		"stranded":  {MaxKeysPerName: 2, UntouchedOK: true, Stranded: 1},
	} {
		if bad.OK() {
			t.Errorf("%s: summary %+v reported OK", name, bad)
		}
	}
}

func TestParseSinkFormats(t *testing.T) {
	const key, secret = "EXO0123456789abcdef01234567", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I"
	for format, content := range map[string]string{
		"json":          `{"api_key": "` + key + `", "api_secret": "` + secret + `", "name": "x"}`,
		"env":           "EXOSCALE_API_KEY=" + key + "\nEXOSCALE_API_SECRET=" + secret + "\n",
		"exoscale-toml": "defaultAccount = \"x\"\n\n[[accounts]]\nname = \"x\"\nkey = \"" + key + "\"\nsecret = \"" + secret + "\"\n",
		"template":      "key=" + key + "\nsecret=" + secret + "\n",
	} {
		got, err := parseSink(format, []byte(content))
		if err != nil || got.Key != key || got.Secret != secret {
			t.Errorf("%s: got %+v, %v", format, got, err)
		}
		if _, err := parseSink(format, []byte("garbage")); err == nil {
			t.Errorf("%s: garbage parsed", format)
		} else if strings.Contains(err.Error(), "garbage") {
			t.Errorf("%s: the error quotes the content: %v", format, err)
		}
	}
}

func TestMaxKeysPerName(t *testing.T) {
	t0 := time.Now()
	at := func(s int) *time.Time { t := t0.Add(time.Duration(s) * time.Second); return &t }
	keys := []simKey{
		{Key: "a", Name: "n", CreatedAt: t0, DeletedAt: at(10)},
		{Key: "b", Name: "n", CreatedAt: *at(5), DeletedAt: at(20)},
		{Key: "c", Name: "n", CreatedAt: *at(10)},                            // starts as a ends: 2, not 3
		{Key: "z", Name: "n", CreatedAt: *at(12), ZombieSince: at(12)},       // a zombie at once
		{Key: "e", Name: "n", CreatedAt: *at(15), External: true},            // someone else's
		{Key: "r", Name: "n", CreatedAt: *at(15), AnsweredRateLimited: true}, // a create answered 429: counted apart
		{Key: "o", Name: "other", CreatedAt: t0},
	}
	n, name := maxKeysPerName(keys, func(s string) bool { return s == "n" })
	if n != 2 || name != "n" {
		t.Errorf("max = %d (%s), want 2 (n)", n, name)
	}
	keys = append(keys, simKey{Key: "d", Name: "n", CreatedAt: *at(16), DeletedAt: at(17)})
	if n, _ := maxKeysPerName(keys, func(s string) bool { return s == "n" }); n != 3 {
		t.Errorf("max = %d, want 3", n)
	}
}

// The applied-429 fault is appended to a cycle's faults whatever they are
// (the base, or none at all), and exosim takes the result.
func TestApplied429Faults(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, doc := range []string{baseFaults, "{}"} {
		out := withApplied429(doc, rnd)
		var faults map[string]exosim.Fault
		if err := json.Unmarshal([]byte(out), &faults); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		f := faults[exosim.OpCreateAPIKey]
		if f.AppliedRateLimitNext < 1 || f.AppliedRateLimitRate <= 0 || f.RetryAfter < 1 {
			t.Errorf("create-api-key fault %+v from %s, want the applied-429 fault with a Retry-After", f, out)
		}
		if doc == baseFaults && faults[exosim.OpDeleteAPIKey].PendingPolls != 2 {
			t.Errorf("the base's other faults were lost: %s", out)
		}
	}
}

// TestShortHACampaign runs a few cycles of the HA mode: two replicas, a
// real API server, leader kills, stops and restarts. Reloads only widen
// the policies: a narrowing one makes a standby, judging it against its
// stale copy of the journal, lead with policies that strand the last
// leader's rotations (the full campaign finds it; see the README).
func TestShortHACampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("the HA campaign runs etcd, kube-apiserver and the real binaries")
	}
	if _, _, err := kubetest.Binaries(); err != nil {
		if os.Getenv(kubetest.EnvRequire) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	cycles := 6
	if v := os.Getenv("ROTATORD_CHAOS_HA_CYCLES"); v != "" {
		if _, err := fmt.Sscan(v, &cycles); err != nil {
			t.Fatalf("ROTATORD_CHAOS_HA_CYCLES=%q: %v", v, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var progress strings.Builder
	sum, err := Run(ctx, Config{Seed: 3, Cycles: cycles, Names: 9, MaxUp: 2 * time.Second, HA: true, Replicas: 2,
		WideningReloadsOnly: true, Vault: "off", Verbose: &progress})
	if err != nil {
		t.Fatalf("campaign: %v\n%s", err, progress.String())
	}
	t.Log(sum.Line())
	for _, p := range sum.Problems {
		t.Error(p)
	}
	if !sum.OK() {
		t.Fatalf("campaign failed: %s\n%s", sum.Line(), progress.String())
	}
	if sum.Failovers == 0 || sum.Rotations == 0 || sum.LeaseTerms < 2 {
		t.Errorf("the campaign did not exercise the replicas: %s\n%s", sum.Line(), progress.String())
	}
}

func TestTermsAround(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	terms := []leaderTerm{{id: "a", begin: at(0)}, {id: "b", begin: at(100)}, {id: "a", begin: at(200)}}
	for _, c := range []struct {
		id      string
		at      int
		overlap bool
	}{
		{"a", 50, false},  // a leads
		{"a", 150, true},  // after b's term began
		{"b", 150, false}, // b leads
		{"b", 250, true},  // after a's second term began
		{"a", 250, false}, // a leads again
		{"c", 50, true},   // never led
		{"b", 50, true},   // before its term
		{"", 50, true},    // unknown writer
		{"a", 100, true},  // at the instant b's term began
	} {
		own, later := termsAround(terms, c.id, at(c.at))
		if got := own == nil || later != nil; got != c.overlap {
			t.Errorf("%s at %dms: overlap %t, want %t", c.id, c.at, got, c.overlap)
		}
	}
	if got := minMedMax([]int64{300, 100, 200}); got != "100/200/300" {
		t.Errorf("minMedMax = %s", got)
	}
}
