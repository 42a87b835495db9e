package state

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestCompactMapsWriteWhatMapsWrote: a record's KeyTimes and Deliveries
// read and write the JSON their maps did, byte for byte, so journals
// written before read the same, and after a random sequence of sets and
// deletes hold what a map would.
func TestCompactMapsWriteWhatMapsWrote(t *testing.T) {
	base := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	keys := []string{"EXOb", "EXOa", "EXOc", `we"ird<&>\key`, "", "EXOaa", "é"}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 3))
		times, deliveries := map[string]time.Time{}, map[string]Delivery{}
		var kt KeyTimes
		var dl Deliveries
		for range rng.IntN(20) {
			k := keys[rng.IntN(len(keys))]
			switch rng.IntN(3) {
			case 0, 1:
				at := base.Add(time.Duration(rng.IntN(1000)) * time.Second)
				times[k] = at
				kt.Set(k, at)
				d := Delivery{KeyID: fmt.Sprint("EXO", rng.IntN(9)), Fingerprint: fmt.Sprint(rng.IntN(3))}
				deliveries[k] = d
				dl.Set(k, d)
			case 2:
				delete(times, k)
				kt.Delete(k)
			}
		}
		for k, at := range times {
			if got, ok := kt.Get(k); !ok || !got.Equal(at) {
				t.Fatalf("seed %d: Get(%q) = %v %v, want %v", seed, k, got, ok, at)
			}
		}
		if len(kt) != len(times) {
			t.Fatalf("seed %d: %d entries, the map %d", seed, len(kt), len(times))
		}
		type oldRecord struct {
			FirstSeen map[string]time.Time `json:"first_seen,omitempty"`
			Delivered map[string]Delivery  `json:"delivered,omitempty"`
		}
		type newRecord struct {
			FirstSeen KeyTimes   `json:"first_seen,omitempty"`
			Delivered Deliveries `json:"delivered,omitempty"`
		}
		want, err := json.Marshal(oldRecord{times, deliveries})
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(newRecord{kt, dl})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("seed %d: wrote %s, a map writes %s", seed, got, want)
		}
		var back newRecord
		if err := json.Unmarshal(want, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, newRecord{kt, dl}) {
			t.Fatalf("seed %d: read back %+v, want %+v", seed, back, newRecord{kt, dl})
		}
	}
	var kt KeyTimes
	if err := json.Unmarshal([]byte(`null`), &kt); err != nil || kt != nil {
		t.Errorf("null: %v %v", kt, err)
	}
	if err := json.Unmarshal([]byte(`{"a":"not a time"}`), &kt); err == nil {
		t.Error("a bad time was accepted")
	}
}

// TestAppendMemberWritesWhatEncodingJSONWrites: the direct encodings of
// appendMember against encoding/json's, on the cases it takes directly and
// the ones it hands over.
func TestAppendMemberWritesWhatEncodingJSONWrites(t *testing.T) {
	at := time.Date(2026, 12, 5, 21, 0, 0, 123456789, time.UTC)
	keys := []string{"EXOabc", "", `q"uote`, `back\slash`, "a<b", "a>b", "a&b", "tab\tline\n", "é", "\u2028", "\x7f", "\xff"}
	values := []any{
		at, at.Truncate(time.Second), time.Time{}, at.In(time.FixedZone("CET", 3600)), at.Local(),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		Delivery{KeyID: "EXO1", Fingerprint: "abc"}, Delivery{KeyID: "EXO1"}, Delivery{},
		Delivery{KeyID: `E"XO`, Fingerprint: "<&>"}, Delivery{KeyID: "EXO1", Fingerprint: "\xff"},
	}
	for _, k := range keys {
		for _, v := range values {
			got, gotErr := appendMember([]byte("{"), 0, k, v)
			want, wantErr := json.Marshal(map[string]any{k: v})
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("%q: %#v: error %v, encoding/json's %v", k, v, gotErr, wantErr)
			}
			if gotErr == nil && string(append(got, '}')) != string(want) {
				t.Errorf("%q: %#v: wrote %s, encoding/json %s", k, v, append(got, '}'), want)
			}
		}
	}
}
