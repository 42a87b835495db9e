package state

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

type mapsRecord struct {
	FirstSeen map[string]time.Time `json:"first_seen,omitempty"`
	Delivered map[string]Delivery  `json:"delivered,omitempty"`
	Deleted   map[string]time.Time `json:"deleted,omitempty"`
}

type slicesRecord struct {
	FirstSeen KeyTimes   `json:"first_seen,omitempty"`
	Delivered Deliveries `json:"delivered,omitempty"`
	Deleted   KeyTimes   `json:"deleted,omitempty"`
}

// Hostile keys: invalid UTF-8, NUL, line separators; the maps and the
// slices must write the same bytes and read back the same.
func TestHostileKeys(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	keys := []string{"a\xff", "a\xfe", "\u2028", "\x00", "\u00e9", "e\u0301", "\ufffd", "a\\", "</script>"}
	m := map[string]time.Time{}
	d := map[string]Delivery{}
	var kt KeyTimes
	var dl Deliveries
	for i, k := range keys {
		m[k] = at.Add(time.Duration(i))
		kt.Set(k, at.Add(time.Duration(i)))
		d[k] = Delivery{KeyID: k}
		dl.Set(k, Delivery{KeyID: k})
	}
	want, _ := json.Marshal(mapsRecord{m, d, m})
	got, err := json.Marshal(slicesRecord{kt, dl, kt})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %s %v\nwant %s", got, err, want)
	}
	var o mapsRecord
	var n slicesRecord
	if err := json.Unmarshal(want, &o); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &n); err != nil {
		t.Fatal(err)
	}
	b1, _ := json.Marshal(o)
	b2, _ := json.Marshal(n)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("re-encoded differ:\n%s\n%s", b1, b2)
	}
	for k := range o.FirstSeen {
		if !n.FirstSeen.Has(k) {
			t.Errorf("%q lost", k)
		}
	}
}

// Decoding into a record that already holds entries: the maps took a
// repeated field's members in, and null emptied them.
func TestDecodeIntoExisting(t *testing.T) {
	for _, in := range []string{
		`{"first_seen":{"a":"2026-01-01T00:00:00Z"},"first_seen":{"b":"2026-01-01T00:00:00Z"}}`,
		`{"first_seen":{"a":"2026-01-01T00:00:00Z"},"first_seen":null}`,
	} {
		var o mapsRecord
		var n slicesRecord
		_ = json.Unmarshal([]byte(in), &o)
		_ = json.Unmarshal([]byte(in), &n)
		ids := []string{}
		for _, e := range n.FirstSeen {
			ids = append(ids, e.ID)
		}
		oids := []string{}
		for k := range o.FirstSeen {
			oids = append(oids, k)
		}
		if len(ids) != len(oids) || !reflect.DeepEqual(len(ids) == 0, len(oids) == 0) {
			t.Errorf("%s: map %v, slices %v", in, oids, ids)
		}
	}
}
