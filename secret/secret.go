// Package secret owns the type that carries credentials through rotatord.
//
// A Value prints, formats and marshals as "<secret>" so that a secret that
// slips into a log field, an error string, a metric or a marshalled config
// does not leak. The only way to read the real text is Reveal, which makes
// every place that handles the raw secret easy to find.
package secret

import (
	"encoding/json"
	"fmt"
)

// Redacted is what a Value shows instead of its content.
const Redacted = "<secret>"

// Value holds a secret string.
type Value string

// Reveal returns the secret text. Call it only where the secret must leave
// the process: a signed request, a sink write.
func (v Value) Reveal() string { return string(v) }

// IsZero reports whether no secret is set.
func (v Value) IsZero() bool { return v == "" }

// String implements fmt.Stringer.
func (v Value) String() string {
	if v == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer so %#v does not leak either.
func (v Value) GoString() string { return fmt.Sprintf("secret.Value(%q)", v.String()) }

// Format makes every fmt verb (%s, %v, %q, %x, ...) print the redacted form.
func (v Value) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", v.String())
	default:
		fmt.Fprint(f, v.String())
	}
}

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }

// MarshalText implements encoding.TextMarshaler (used by zap, YAML and others).
func (v Value) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// MarshalYAML implements the yaml Marshaler interface.
func (v Value) MarshalYAML() (any, error) { return v.String(), nil }
