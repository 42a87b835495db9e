// Package state owns rotatord's durable memory: for every key name a policy
// manages, which key is current, since when, and where an in-flight rotation
// stands. The Exoscale API records no creation time and returns a secret
// only once, so this is what makes ages known and crashes recoverable.
//
// The store never holds a secret: a rotation interrupted before its secret
// reached the sinks is rolled back, not resumed from here.
package state

import (
	"slices"
	"time"
)

// Phase is where a rotation stands. Each phase is made durable before the
// step that follows it starts.
type Phase string

const (
	// PhaseIntent: the rotation has begun and OldKeyIDs lists the keys of
	// the name that existed before. A create may be under way, so any other
	// key of that name found on recovery is one of ours whose secret is lost.
	PhaseIntent Phase = "intent"
	// PhaseCreated: NewKeyID exists; its secret is being delivered.
	PhaseCreated Phase = "created"
	// PhaseDelivered: every sink holds NewKeyID and the API confirmed it;
	// OldKeyIDs are deleted once DeleteAfter has passed.
	PhaseDelivered Phase = "delivered"
)

// Rotation is a rotation in flight.
type Rotation struct {
	Phase        Phase     `json:"phase"`
	StartedAt    time.Time `json:"started_at"`
	OldKeyIDs    []string  `json:"old_key_ids"`
	NewKeyID     string    `json:"new_key_id,omitempty"`
	NewCreatedAt time.Time `json:"new_created_at,omitzero"`
	DeliveredAt  time.Time `json:"delivered_at,omitzero"`
	DeleteAfter  time.Time `json:"delete_after,omitzero"`
}

// Record is what rotatord knows about one key name of one policy.
type Record struct {
	Policy string `json:"policy"`
	Name   string `json:"name"`
	RoleID string `json:"role_id,omitempty"`

	// CurrentKeyID is the key the sinks hold (or the adopted key). Empty
	// when rotatord could not tell which of several keys is current.
	CurrentKeyID string `json:"current_key_id,omitempty"`
	// CurrentSince is when the current key was created by rotatord, or when
	// it was first seen. Zero means "age unknown": due for rotation.
	CurrentSince time.Time `json:"current_since,omitzero"`
	// CreatedByUs tells whether rotatord created the current key.
	CreatedByUs bool `json:"created_by_us,omitempty"`

	// FirstSeen maps every live key id of this name to when it was first listed.
	FirstSeen map[string]time.Time `json:"first_seen,omitempty"`

	Rotation *Rotation `json:"rotation,omitempty"`

	Failures    int       `json:"failures,omitempty"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	// LastError is a classified, secret-free description of the last failure.
	LastError string `json:"last_error,omitempty"`
}

// Clone returns a deep copy, so callers never share maps or slices with the store.
func (r Record) Clone() Record {
	c := r
	if r.FirstSeen != nil {
		c.FirstSeen = make(map[string]time.Time, len(r.FirstSeen))
		for k, v := range r.FirstSeen {
			c.FirstSeen[k] = v
		}
	}
	if r.Rotation != nil {
		rot := *r.Rotation
		rot.OldKeyIDs = slices.Clone(r.Rotation.OldKeyIDs)
		c.Rotation = &rot
	}
	return c
}
