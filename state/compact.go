package state

// The journal holds a record per key name in memory, 10,000 of them in a
// large organization. A Go map of one entry takes a group of eight slots
// (about 400 bytes for a key id and a time), and a record had three: the
// small sorted slices here hold the same in a tenth of that, and read and
// write as the same JSON objects.

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// KeyTimes maps key ids to a time, as a slice sorted by id.
type KeyTimes []KeyTime

// KeyTime is one entry of a KeyTimes.
type KeyTime struct {
	ID string
	At time.Time
}

func (s KeyTimes) find(id string) (int, bool) {
	return slices.BinarySearchFunc(s, id, func(e KeyTime, id string) int { return strings.Compare(e.ID, id) })
}

// Get returns the time of id.
func (s KeyTimes) Get(id string) (time.Time, bool) {
	if i, ok := s.find(id); ok {
		return s[i].At, true
	}
	return time.Time{}, false
}

// Has reports whether id has a time.
func (s KeyTimes) Has(id string) bool {
	_, ok := s.find(id)
	return ok
}

// Set gives id the time at.
func (s *KeyTimes) Set(id string, at time.Time) {
	i, ok := s.find(id)
	if ok {
		(*s)[i].At = at
		return
	}
	*s = slices.Insert(*s, i, KeyTime{ID: id, At: at})
}

// Delete forgets id.
func (s *KeyTimes) Delete(id string) {
	if i, ok := s.find(id); ok {
		*s = slices.Delete(*s, i, i+1)
	}
	if len(*s) == 0 {
		*s = nil
	}
}

// MarshalJSON writes the object a map[string]time.Time would: its keys
// in the same (byte-wise) order.
func (s KeyTimes) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, e := range s {
		var err error
		if b, err = appendMember(b, i, e.ID, e.At); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendMember appends the i-th member "key": value of an object. Every
// durable step of a rotation encodes its record, and these members were
// most of the encoding's allocations: the common cases (a plain key, a
// UTC time, a delivery of plain strings) are appended directly, as
// encoding/json writes them; anything else goes through it.
func appendMember(b []byte, i int, key string, value any) ([]byte, error) {
	if i > 0 {
		b = append(b, ',')
	}
	b, err := appendJSONString(b, key)
	if err != nil {
		return nil, err
	}
	b = append(b, ':')
	switch v := value.(type) {
	case time.Time:
		if y := v.Year(); v.Location() == time.UTC && y >= 0 && y <= 9999 {
			b = append(b, '"')
			b = v.AppendFormat(b, time.RFC3339Nano)
			return append(b, '"'), nil
		}
	case Delivery:
		if plainJSON(v.KeyID) && plainJSON(v.Fingerprint) {
			b = append(append(append(b, `{"key_id":"`...), v.KeyID...), '"')
			if v.Fingerprint != "" {
				b = append(append(append(b, `,"fingerprint":"`...), v.Fingerprint...), '"')
			}
			return append(b, '}'), nil
		}
	}
	j, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendJSONString appends s as encoding/json writes a string.
func appendJSONString(b []byte, s string) ([]byte, error) {
	if plainJSON(s) {
		return append(append(append(b, '"'), s...), '"'), nil
	}
	j, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// plainJSON reports whether encoding/json writes s as it is between
// quotes: printable ASCII that needs no escape (it escapes <, > and &
// for HTML).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// UnmarshalJSON reads the object a map[string]time.Time would, as a map
// would: into the entries already there, and null empties it.
func (s *KeyTimes) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*s = nil
		return nil
	}
	var m map[string]time.Time
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for id, at := range m {
		s.Set(id, at)
	}
	return nil
}

// Deliveries maps sink ids to the last key delivered there, as a slice
// sorted by sink id.
type Deliveries []SinkDelivery

// SinkDelivery is one entry of a Deliveries.
type SinkDelivery struct {
	Sink string
	Delivery
}

func (s Deliveries) find(sink string) (int, bool) {
	return slices.BinarySearchFunc(s, sink, func(e SinkDelivery, sink string) int { return strings.Compare(e.Sink, sink) })
}

// Get returns the delivery to sink.
func (s Deliveries) Get(sink string) (Delivery, bool) {
	if i, ok := s.find(sink); ok {
		return s[i].Delivery, true
	}
	return Delivery{}, false
}

// Set records d as the delivery to sink.
func (s *Deliveries) Set(sink string, d Delivery) {
	i, ok := s.find(sink)
	if ok {
		(*s)[i].Delivery = d
		return
	}
	*s = slices.Insert(*s, i, SinkDelivery{Sink: sink, Delivery: d})
}

// MarshalJSON writes the object a map[string]Delivery would.
func (s Deliveries) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, e := range s {
		var err error
		if b, err = appendMember(b, i, e.Sink, e.Delivery); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads the object a map[string]Delivery would, as a map
// would: into the entries already there, and null empties it. It decodes
// leniently (unknown fields of an entry are ignored): a journal written by
// a later version must still load. state import checks strictly.
func (s *Deliveries) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*s = nil
		return nil
	}
	var m map[string]Delivery
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for sink, d := range m {
		s.Set(sink, d)
	}
	return nil
}

// KeyTimesOf returns the KeyTimes of m.
func KeyTimesOf(m map[string]time.Time) KeyTimes {
	var s KeyTimes
	for id, at := range m {
		s.Set(id, at)
	}
	return s
}

// DeliveriesOf returns the Deliveries of m.
func DeliveriesOf(m map[string]Delivery) Deliveries {
	var s Deliveries
	for sink, d := range m {
		s.Set(sink, d)
	}
	return s
}
