// Package state owns rotatord's durable memory: for every key name a policy
// manages, which key is current, since when, and where an in-flight rotation
// stands. The Exoscale API records no creation time and returns a secret
// only once, so this is what makes ages known and crashes recoverable.
//
// The store never holds a secret: a rotation interrupted before its secret
// reached the sinks is rolled back, not resumed from here.
//
// On disk (store.go, wal.go): a JSON file per record, and a write-ahead log
// every change is synced to before it is acknowledged, checkpointed into
// the files.
package state

import (
	"maps"
	"slices"
	"time"
)

// Phase is where a rotation stands. Each phase is made durable before the
// step that follows it starts.
type Phase string

const (
	// PhaseIntent: the rotation has begun; KnownKeyIDs lists every key of
	// the name that existed then. A create may be under way, so a key of
	// the name and the rotation's role found on recovery and not among them
	// is one of ours whose secret is lost.
	PhaseIntent Phase = "intent"
	// PhaseCreated: NewKeyID exists; its secret is being delivered.
	PhaseCreated Phase = "created"
	// PhaseDelivered: every sink holds NewKeyID and the API confirmed it;
	// OldKeyIDs are deleted once DeleteAfter has passed.
	PhaseDelivered Phase = "delivered"
)

// Rotation is a rotation in flight.
type Rotation struct {
	Phase     Phase     `json:"phase"`
	StartedAt time.Time `json:"started_at"`
	// OldKeyIDs are the keys of the name and role the rotation replaces:
	// deleted once the new key is delivered and the grace period is over.
	OldKeyIDs []string `json:"old_key_ids"`
	// KnownKeyIDs are every key of the name, whatever its role, that the
	// listing showed when the intent was recorded. A key of the name and
	// role found later and not among them can only be one this rotation
	// created: the recorded ids decide, never a clock.
	KnownKeyIDs []string `json:"known_key_ids,omitempty"`
	// RoleID is the role of the create.
	RoleID       string    `json:"role_id,omitempty"`
	NewKeyID     string    `json:"new_key_id,omitempty"`
	NewCreatedAt time.Time `json:"new_created_at,omitzero"`
	// NewMissingSince is when the API first said the new key does not
	// exist (a GET and a listing both lacked it); it is declared gone only
	// if it is still missing the settle time later.
	NewMissingSince time.Time `json:"new_missing_since,omitzero"`
	// SearchFrom is the API's own time (its answers' Date) at the first
	// search for the key a lost create may have made: the search ends only
	// once the API's clock is the settle time past it, whatever the clocks
	// of the processes that searched (one restarted with its clock ahead
	// would otherwise end it at its first look). Zero when the API sends
	// no Date.
	SearchFrom  time.Time `json:"search_from,omitzero"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	DeleteAfter time.Time `json:"delete_after,omitzero"`
	// Sinks holds what the rotation knows of each sink, by sink id.
	Sinks map[string]SinkMark `json:"sinks,omitempty"`
	// HooksPending are the events whose hooks the rotation still owes
	// (after_delivery, recorded with the delivery): run after a crash.
	HooksPending []string `json:"hooks_pending,omitempty"`
}

// DeleteAt is when a delivered rotation's old keys may go under a policy
// whose grace_period is grace: DeleteAfter, the end of the grace period
// its delivery recorded, or later when grace (the policy's in force, a
// reload may have lengthened it since) ends later counted from the
// delivery. A shorter grace does not bring the deletion forward. A
// DeliveredAt after DeleteAfter (an edited record: a delivery is never
// after the end of its own grace period) is ignored: a year 9999 in it
// held the old key for good.
func (r *Rotation) DeleteAt(grace time.Duration) time.Time {
	at := r.DeleteAfter
	if !r.DeliveredAt.IsZero() && (at.IsZero() || !r.DeliveredAt.After(at)) {
		if d := r.DeliveredAt.Add(grace); d.After(at) {
			at = d
		}
	}
	return at
}

// SinkMark is the evidence a rotation keeps about one sink. Fingerprints
// are digests of a sink's content (never the content): for a sink that
// cannot be read back, they prove later what it holds.
type SinkMark struct {
	// Before is the fingerprint of the sink's content when the rotation
	// started: content that predates the intent cannot hold its new key.
	Before string `json:"before,omitempty"`
	// New is the fingerprint of the content the new key is written as.
	New string `json:"new,omitempty"`
	// Delivered: rotatord wrote the new key there and read it back.
	Delivered bool `json:"delivered,omitempty"`
}

// Delivery is the last credential rotatord delivered to one sink.
type Delivery struct {
	KeyID       string `json:"key_id"`
	Fingerprint string `json:"fingerprint,omitempty"`
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
	FirstSeen KeyTimes `json:"first_seen,omitempty"`

	// Delivered maps a sink id to the last key rotatord delivered there.
	Delivered Deliveries `json:"delivered,omitempty"`
	// Deleted maps key ids the API acknowledged deleting to when, while
	// listings still show them (a listing that lags, or a key the API
	// answers "not in organization" for until the platform removes it).
	// They are not live keys of the name.
	Deleted KeyTimes `json:"deleted,omitempty"`

	Rotation *Rotation `json:"rotation,omitempty"`

	// RetriedCreate is the intent of a rotation whose create the API
	// answered with an error the client retries (a 429) before the answer
	// that gave its new key (NewKeyID): a server, or a proxy, that acted
	// before answering so made a key at each such answer, whose secret
	// reached nobody. It is written before such a create is sent again
	// (NewKeyID empty until the answer), with the created phase, or with
	// the failure of a create whose every attempt failed, and kept,
	// after the rotation too, until the search for those keys settles:
	// any key of the name and role that is not among its KnownKeyIDs or
	// OldKeyIDs, nor its NewKeyID, the current key or rotatord's own,
	// the same search as a lost create's (SearchFrom included). Only
	// those fields and StartedAt and RoleID are used.
	RetriedCreate *Rotation `json:"retried_create,omitempty"`

	// NoKeysSince is when a listing first showed none of the name's keys:
	// the record is forgotten only once that has lasted the settle time,
	// since one listing that omits a name's keys may lag or lie. Zero while
	// keys are listed.
	NoKeysSince time.Time `json:"no_keys_since,omitzero"`

	Failures    int       `json:"failures,omitempty"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	// LastError is a classified, secret-free description of the last failure.
	LastError string `json:"last_error,omitempty"`
	// FailureHookPending is the LastFailure whose on_failure hooks have not
	// all succeeded yet: written with the failure, cleared once they ran,
	// so a crash in between runs them after the restart.
	FailureHookPending time.Time `json:"failure_hook_pending,omitzero"`
	// FailureHookEvent is what those hooks are told, as it was at the
	// failure: a retry after the rotation moved on tells the same, under
	// the same idempotency key.
	FailureHookEvent *FailureEvent `json:"failure_hook_event,omitempty"`

	// CheckedCredentials, on the organization record only (policy
	// OrganizationPolicy), maps the keys rotatord signed with whose
	// listings were found to be of the journal's organization to when.
	CheckedCredentials KeyTimes `json:"checked_credentials,omitempty"`
}

// OrganizationPolicy is the policy of the record that holds what the
// journal knows of its organization (Record.CheckedCredentials). Policy
// names start with a letter or digit, so no policy takes it.
const OrganizationPolicy = "_organization"

// OrganizationName is the name of that record.
const OrganizationName = "credentials"

// FailureEvent is the part of a failed rotation its on_failure hooks are
// told. It holds no secret.
type FailureEvent struct {
	NewKeyID  string   `json:"new_key_id,omitempty"`
	OldKeyIDs []string `json:"old_key_ids,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Clone returns a deep copy, so callers never share maps or slices with the store.
func (r Record) Clone() Record {
	c := r
	c.FirstSeen = slices.Clone(r.FirstSeen)
	c.Delivered = slices.Clone(r.Delivered)
	if r.FailureHookEvent != nil {
		ev := *r.FailureHookEvent
		ev.OldKeyIDs = slices.Clone(ev.OldKeyIDs)
		c.FailureHookEvent = &ev
	}
	c.Deleted = slices.Clone(r.Deleted)
	c.CheckedCredentials = slices.Clone(r.CheckedCredentials)
	c.Rotation = r.Rotation.clone()
	c.RetriedCreate = r.RetriedCreate.clone()
	return c
}

// clone returns a deep copy of r (nil for nil).
func (r *Rotation) clone() *Rotation {
	if r == nil {
		return nil
	}
	c := *r
	c.OldKeyIDs = slices.Clone(r.OldKeyIDs)
	c.KnownKeyIDs = slices.Clone(r.KnownKeyIDs)
	c.Sinks = maps.Clone(r.Sinks)
	c.HooksPending = slices.Clone(r.HooksPending)
	return &c
}
