package rotation

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// claimSet is a quiet set of the candidates ci-0 .. ci-(n-1), each expecting
// the one key K-i of role roleCI, built as quietRecords builds one.
func claimSet(n int, now time.Time) *quietSet {
	p := &Policy{Name: "ci"}
	qs := &quietSet{byName: map[string]int32{}}
	for i := range n {
		qs.candidates = append(qs.candidates, quietCandidate{policy: p, name: fmt.Sprintf("ci-%d", i),
			keyID: fmt.Sprintf("K-%d", i), roleID: roleCI, decision: Decision{Due: now.Add(time.Hour)}, owned: true})
	}
	packStrings(qs.candidates)
	for i, c := range qs.candidates {
		qs.byName[c.name] = int32(i)
	}
	return qs
}

// TestClaimOnAReusedSetMatchesAFreshOne: a quiet set serves pass after
// pass, and claim first looks for each listed key where the last listing
// had it. Whatever the next listing does (keys reordered, renamed in
// place, a second key for a name, keys gone or added, an empty listing),
// claim on the reused set must say what it says on a set that never saw a
// listing.
func TestClaimOnAReusedSetMatchesAFreshOne(t *testing.T) {
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	key := func(name, id string) apiclient.Key { return apiclient.Key{ID: id, Name: name, RoleID: roleCI} }
	first := []apiclient.Key{key("ci-0", "K-0"), key("ci-1", "K-1"), key("other", "O-1"), key("ci-2", "K-2"), key("ci-3", "K-3")}
	listings := map[string][]apiclient.Key{
		"same":           first,
		"reordered":      {key("ci-3", "K-3"), key("other", "O-1"), key("ci-0", "K-0"), key("ci-2", "K-2"), key("ci-1", "K-1")},
		"renamed":        {key("other", "K-0"), key("ci-0", "K-1"), key("ci-1", "O-1"), key("ci-2", "K-2"), key("ci-3", "K-3")},
		"second key":     {key("ci-0", "K-0"), key("ci-1", "K-1"), key("ci-1", "N-1"), key("ci-2", "K-2"), key("ci-3", "K-3")},
		"shorter":        {key("ci-2", "K-2")},
		"longer":         append(slices.Clone(first), key("ci-4", "K-4"), key("ci-0", "K-9")),
		"other role":     {key("ci-0", "K-0"), {ID: "K-1", Name: "ci-1", RoleID: "another-role"}, key("ci-2", "K-2"), key("ci-3", "K-3")},
		"empty":          nil,
		"only strangers": {key("x", "X-1"), key("y", "Y-1"), key("z", "Z-1"), key("w", "W-1"), key("v", "V-1")},
	}
	for name, next := range listings {
		t.Run(name, func(t *testing.T) {
			reused := claimSet(4, now)
			reused.claim(first, "OWN", now, nil)
			for round := range 2 { // the hint of `first`, then that of `next` itself
				gotRest, gotQuiet := reused.claim(next, "OWN", now, nil)
				wantRest, wantQuiet := claimSet(4, now).claim(next, "OWN", now, nil)
				if !slices.Equal(gotQuiet, wantQuiet) || !slices.Equal(gotRest, wantRest) {
					t.Errorf("round %d: reused set: quiet %v, rest %v; fresh set: quiet %v, rest %v",
						round, gotQuiet, gotRest, wantQuiet, wantRest)
				}
			}
		})
	}
}

// TestPackStringsKeepsTheValues: packing moves the candidates' strings,
// it does not change them.
func TestPackStringsKeepsTheValues(t *testing.T) {
	cs := []quietCandidate{
		{name: "a", keyID: "K-a", roleID: "r1"}, {name: "", keyID: "K-b", roleID: "r2"},
		{name: "ccc", keyID: "", roleID: "r1"}, {name: "d", keyID: "K-d", roleID: ""},
	}
	want := slices.Clone(cs)
	packStrings(cs)
	for i := range cs {
		if cs[i].name != want[i].name || cs[i].keyID != want[i].keyID || cs[i].roleID != want[i].roleID {
			t.Errorf("candidate %d: %q %q %q after packing, want %q %q %q", i,
				cs[i].name, cs[i].keyID, cs[i].roleID, want[i].name, want[i].keyID, want[i].roleID)
		}
	}
}
