// Package sinks owns the contract between the rotation engine and the places
// a new credential is delivered to (a file, a Vault KV v2 secret, ...).
//
// A sink only writes, reads back and reports what it holds. Retries, fan-out
// to every sink of a policy and the decision to roll back live in the
// engine, not in each sink.
package sinks

import (
	"context"
	"errors"
	"time"

	"github.com/rotatord/rotatord/secret"
)

// Credential is what a sink delivers: one Exoscale API key and its secret.
type Credential struct {
	Name      string // the API key's name, also the template variable .Name
	KeyID     string // "EXO..." key id
	RoleID    string
	Secret    secret.Value
	CreatedAt time.Time // when rotatord created the key
}

// Held is what a sink reports it currently holds for a key name.
type Held struct {
	KeyID  string
	Secret secret.Value // empty when the sink cannot give it back (a free-form template)
}

var (
	// ErrNotHeld means the sink holds no credential for that name.
	ErrNotHeld = errors.New("sink holds no credential for this name")
	// ErrUnreadable means the sink holds something for the name but cannot
	// tell which credential (a free-form template, a damaged file). The
	// engine must then assume it may hold any key.
	ErrUnreadable = errors.New("sink cannot tell which credential it holds")
	// ErrMismatch means the sink holds something other than the credential asked about.
	ErrMismatch = errors.New("sink holds a different credential")
)

// NothingSent marks the error of a Write that failed before the secret
// left the process (a check or a lookup that came first failed): no copy
// of the credential can be in the sink, whatever the sink's state now. The
// engine may then roll back a key it created moments ago at once, even
// when the sink cannot be read to confirm it (Vault down).
func NothingSent(err error) error {
	if err == nil {
		return nil
	}
	return nothingSent{err}
}

// IsNothingSent reports whether err, or an error it wraps, was marked by
// NothingSent.
func IsNothingSent(err error) bool {
	var n nothingSent
	return errors.As(err, &n)
}

type nothingSent struct{ error }

func (n nothingSent) Unwrap() error { return n.error }

// Sink is one delivery target of a policy, already bound to its settings.
// Implementations must be safe for concurrent use with different names.
type Sink interface {
	// Kind is the sink type ("file", "vault"), used in logs and metric labels.
	Kind() string
	// Target describes where the credential for name goes (a path, a Vault
	// path), for logs. It never contains a secret.
	Target(name string) string
	// Probe checks, without changing anything a consumer reads, that a
	// write for name would be possible now (directory writable, token
	// valid, ...). The engine probes every sink before it creates a key,
	// so a broken sink costs no key.
	Probe(ctx context.Context, name string) error
	// Write delivers c, replacing what the sink held for c.Name. It must
	// not leave a partial credential behind on failure, and marks with
	// NothingSent a failure that came before the secret was sent.
	Write(ctx context.Context, c Credential) error
	// Verify reads the sink back and returns nil only if it holds exactly c
	// (key id and secret); ErrNotHeld or ErrMismatch otherwise.
	Verify(ctx context.Context, c Credential) error
	// Read returns what the sink holds for name, ErrNotHeld, or an error
	// wrapping ErrUnreadable. The engine uses it to resume a delivery
	// interrupted by a crash.
	Read(ctx context.Context, name string) (Held, error)
}

// Endpointer is implemented by sinks whose Target does not name the
// server they write to (a Vault sink's is the mount and path): two sinks
// of one target on two endpoints write two things, not one.
type Endpointer interface {
	// Endpoint names the server, one spelling for each.
	Endpoint() string
}

// Fingerprinter is implemented by sinks whose Read cannot say which key they
// hold (a free-form template). A fingerprint is a digest of the sink's
// content for a name: the engine records the fingerprint of what a sink
// held before a rotation and of what it wrote, and compares them later, so
// it can prove what such a sink holds without ever keeping a secret.
type Fingerprinter interface {
	// Fingerprint returns the digest of exactly what Write(c) writes.
	Fingerprint(c Credential) (string, error)
	// CurrentFingerprint returns the digest of what the sink holds for name
	// now, or an error matching ErrNotHeld when it holds nothing.
	CurrentFingerprint(ctx context.Context, name string) (string, error)
}

// ReadBacker is implemented by sinks that can tell whether Read will give
// back the credential they hold (a file sink can, except with a free-form
// template). The engine writes sinks that can be read back before those
// that cannot, so an interrupted delivery always leaves a copy of the new
// secret to resume from. A sink without it is taken as able to.
type ReadBacker interface {
	CanReadBack() bool
}

// CanReadBack reports whether s gives back what it holds.
func CanReadBack(s Sink) bool {
	if r, ok := s.(ReadBacker); ok {
		return r.CanReadBack()
	}
	return true
}

// Fencer is implemented by sinks whose writes are conditional on the
// version of the target they read (a Kubernetes Secret's
// resourceVersion). Fence changes that version, leaving what the sink
// holds as it was, so that a write prepared against an earlier version
// fails when it arrives: one a previous process sent (a leader that died
// or lost its Lease before the answer came) and that is still on its way.
// The engine fences every such sink before it rolls back a new key that
// another process may have sent to it.
type Fencer interface {
	Fence(ctx context.Context, name string) error
}
