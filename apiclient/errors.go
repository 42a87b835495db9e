package apiclient

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a failed call. It is small on purpose: it doubles as a
// metric label and as the caller's branch condition.
type Kind string

const (
	KindNotFound        Kind = "not_found"        // the key, role or operation does not exist
	KindAuth            Kind = "auth"             // the API refused our credential or signature
	KindRateLimited     Kind = "rate_limited"     // 429 after the retries ran out
	KindAmbiguousCreate Kind = "ambiguous_create" // a create may have happened; its secret is lost
	KindUnavailable     Kind = "unavailable"      // transport error or 5xx after the retries ran out
	KindInvalidResponse Kind = "invalid_response" // an answer that cannot be parsed
	KindOther           Kind = "other"            // anything else (4xx the request caused, ...)
)

// Sentinel errors to use with errors.Is.
var (
	ErrNotFound        = &Error{Kind: KindNotFound}
	ErrAuth            = &Error{Kind: KindAuth}
	ErrRateLimited     = &Error{Kind: KindRateLimited}
	ErrAmbiguousCreate = &Error{Kind: KindAmbiguousCreate}
	ErrUnavailable     = &Error{Kind: KindUnavailable}
	ErrInvalidResponse = &Error{Kind: KindInvalidResponse}
)

// Error is every error the client returns. Its text is built from the
// operation, the status and the server's message only: never from a request
// or response body, so it cannot carry a secret.
type Error struct {
	Op         string        // operation id, e.g. "create-api-key"
	Kind       Kind          // what the caller can branch on
	Status     int           // HTTP status, 0 when none was received
	Message    string        // the server's "message", or a short description
	RetryAfter time.Duration // for KindRateLimited: how long the server asked us to wait
	Attempts   int           // how many HTTP attempts were made
}

func (e *Error) Error() string {
	msg := e.Op
	if msg == "" {
		msg = "exoscale api"
	}
	msg += ": " + string(e.Kind)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	return msg
}

// Is makes errors.Is(err, ErrNotFound) and friends match on the kind.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Op == "" && t.Status == 0 && t.Message == "" && t.Kind == e.Kind
}

// KindOf returns the kind of err, KindOther for errors this package did not make.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}
