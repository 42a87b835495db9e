// Package apiclient owns rotatord's access to the Exoscale IAM API.
//
// It wraps the official SDK (github.com/exoscale/egoscale/v3), which signs the
// requests, with what a daemon needs around it: its own HTTP client with
// timeouts, a rate limit and a concurrency bound, retries with backoff for
// idempotent calls only, errors the caller can branch on, and a hook that
// reports every HTTP attempt to the metrics layer. Create is never retried
// when its outcome is unknown: the caller gets ErrAmbiguousCreate and must
// look for the key that may have been created.
package apiclient

import (
	"context"

	"github.com/rotatord/rotatord/secret"
)

// Operation names, the same as the OpenAPI operation ids the SDK uses. They
// are the bounded label set of the request metrics.
const (
	OpListKeys     = "list-api-keys"
	OpCreateKey    = "create-api-key"
	OpGetKey       = "get-api-key"
	OpDeleteKey    = "delete-api-key"
	OpGetOperation = "get-operation"
	OpListRoles    = "list-iam-roles"
)

// Operations lists every operation name, so metrics can be created at zero.
var Operations = []string{OpListKeys, OpCreateKey, OpGetKey, OpDeleteKey, OpGetOperation, OpListRoles}

// Key is an API key as the API lists it. It never carries a secret.
type Key struct {
	ID     string // EXO followed by 24 hex digits; the API calls it "key"
	Name   string
	RoleID string
}

// CreatedKey is a key just created, with the only copy of its secret.
type CreatedKey struct {
	Key
	Secret secret.Value
	// EarlierAttemptsAnswered is how many attempts of this create before
	// the one that made Key the API answered with an error it retries (a
	// 429). A 429 is taken to mean the API did not act, and the create is
	// sent again; a server or a proxy that acts and then answers 429 made
	// a key at each of them, whose secret reached nobody. Not zero: the
	// caller looks for such keys. It is set with an error from CreateKey
	// too: a create that failed after answered attempts may have made a
	// key at each of them, not just one.
	EarlierAttemptsAnswered int
}

// Role is an IAM role.
type Role struct {
	ID          string
	Name        string
	Description string
}

// API is what the rotation engine needs from Exoscale.
type API interface {
	// ListKeys returns every API key of the organization.
	ListKeys(ctx context.Context) ([]Key, error)
	// GetKey returns one key, or an error matching ErrNotFound.
	GetKey(ctx context.Context, id string) (Key, error)
	// CreateKey creates a key. An error matching ErrAmbiguousCreate means
	// the key may exist although its secret is lost.
	CreateKey(ctx context.Context, name, roleID string) (CreatedKey, error)
	// DeleteKey deletes a key and waits for the deletion to succeed. A key
	// that is already gone counts as deleted.
	DeleteKey(ctx context.Context, id string) error
	// ListRoles returns the organization's IAM roles.
	ListRoles(ctx context.Context) ([]Role, error)
}
