package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// TestImportChecksEverySetEntry: state import refuses a field it does not
// know anywhere in a record, inside the entries of its small sets too
// (state decodes those leniently, for journals of later versions), and
// reads a good record as the state package does.
func TestImportChecksEverySetEntry(t *testing.T) {
	decode := func(in string) (importedJournal, error) {
		var j importedJournal
		dec := json.NewDecoder(strings.NewReader(in))
		dec.DisallowUnknownFields()
		return j, dec.Decode(&j)
	}
	for _, bad := range []string{
		`{"format":"f","accounts":{"a":[{"policy":"p","name":"n","delivered":{"file:/x":{"key_id":"EXOa","keyid":"EXOb"}}}]}}`,
		`{"format":"f","accounts":{"a":[{"policy":"p","name":"n","first_seen":{"EXOa":"not a time"}}]}}`,
		`{"format":"f","accounts":{"a":[{"policy":"p","name":"n","curent_key_id":"EXOa"}]}}`,
	} {
		if _, err := decode(bad); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	good := `{"format":"f","accounts":{"a":[{"policy":"p","name":"n","current_key_id":"EXOb",` +
		`"first_seen":{"EXOb":"2026-12-04T12:00:00Z","EXOa":"2026-12-03T12:00:00Z"},` +
		`"delivered":{"file:/x":{"key_id":"EXOb","fingerprint":"sha256:00"}},"deleted":{"EXOc":"2026-12-04T11:00:00Z"}}]}}`
	j, err := decode(good)
	if err != nil {
		t.Fatal(err)
	}
	var want state.Record
	if err := json.Unmarshal([]byte(good[strings.Index(good, `[`)+1:strings.LastIndex(good, `]`)]), &want); err != nil {
		t.Fatal(err)
	}
	got := j.Accounts["a"][0].record()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("import read %+v, state reads %+v", got, want)
	}
	if at, ok := got.FirstSeen.Get("EXOa"); !ok || !at.Equal(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)) || len(got.FirstSeen) != 2 {
		t.Errorf("first_seen %+v", got.FirstSeen)
	}
}

// TestImportRefusesWhatNoExportHolds: state import took two records of
// one policy and name (the second silently replaced the first, and
// "imported 2 records" counted both) and a rotation in a phase no
// rotatord writes (run then recovered it as an intent); each is now
// refused before anything is written, naming the account, the record
// and the value.
func TestImportRefusesWhatNoExportHolds(t *testing.T) {
	rec := func(policy, name string, rot, retried *state.Rotation) importedRecord {
		return importedRecord{Record: state.Record{Policy: policy, Name: name, Rotation: rot, RetriedCreate: retried}}
	}
	now := time.Now()
	for _, tt := range []struct {
		name    string
		recs    []importedRecord
		wantErr string
	}{
		{"good", []importedRecord{
			rec("ci", "ci-a", &state.Rotation{Phase: state.PhaseIntent, StartedAt: now}, nil),
			rec("ci", "ci-b", &state.Rotation{Phase: state.PhaseDelivered, StartedAt: now}, &state.Rotation{Phase: state.PhaseIntent, StartedAt: now}),
			rec("cd", "ci-a", nil, nil),
		}, ""},
		{"twice the same record", []importedRecord{rec("ci", "ci-a", nil, nil), rec("ci", "ci-a", nil, nil)},
			`state import: account default: two records of policy "ci" and name "ci-a"`},
		{"unknown phase", []importedRecord{rec("ci", "ci-a", &state.Rotation{Phase: "bogus", StartedAt: now}, nil)},
			`state import: account default: policy "ci" name "ci-a": rotation.phase "bogus": want intent, created or delivered`},
		{"unknown phase of the retried create", []importedRecord{rec("ci", "ci-a", nil, &state.Rotation{Phase: "", StartedAt: now})},
			`state import: account default: policy "ci" name "ci-a": retried_create.phase "": want intent, created or delivered`},
		{"no name", []importedRecord{rec("ci", "", nil, nil)},
			`state import: account default: a record without policy or name`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkImported("default", tt.recs)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("error %v, want %s", err, tt.wantErr)
			}
		})
	}
}
