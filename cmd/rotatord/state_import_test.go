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
