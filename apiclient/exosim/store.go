package exosim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"
)

// KeyRecord is everything the simulator knows about a key it issued or was
// seeded with, secret included: chaos tests grep logs for every secret ever
// issued.
type KeyRecord struct {
	Key       string     `json:"key"`
	Name      string     `json:"name"`
	RoleID    string     `json:"role_id"`
	Secret    string     `json:"secret"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	Alive     bool       `json:"alive"`
}

// Operation states the simulator produces.
const (
	stateSuccess = "success"
	statePending = "pending"
)

type keyRecord struct {
	key, name, roleID, secret string
	createdAt                 time.Time
	deletedAt                 time.Time // zero while alive
	pendingOp                 string    // id of a pending delete operation
}

func (k *keyRecord) alive() bool { return k.deletedAt.IsZero() }

func (k *keyRecord) export() KeyRecord {
	r := KeyRecord{Key: k.key, Name: k.name, RoleID: k.roleID, Secret: k.secret, CreatedAt: k.createdAt, Alive: k.alive()}
	if !k.alive() {
		t := k.deletedAt
		r.DeletedAt = &t
	}
	return r
}

type operation struct {
	id, state, command, keyID string
	pollsLeft                 int // pending answers still to give
}

// store is the simulated organization. It is not safe for concurrent use:
// Sim guards it with its mutex.
type store struct {
	roles   []Role
	keys    []*keyRecord // in creation order, deleted ones included
	byKey   map[string]*keyRecord
	ops     map[string]*operation
	live    map[string]int // alive keys per name
	maxLive map[string]int // the highest live count seen per name
}

func newStore(seed resolvedSeed, now time.Time) *store {
	st := &store{
		roles:   append([]Role(nil), seed.roles...),
		byKey:   map[string]*keyRecord{},
		ops:     map[string]*operation{},
		live:    map[string]int{},
		maxLive: map[string]int{},
	}
	for _, k := range seed.keys {
		st.add(k.Key, k.Name, k.Role, k.Secret, now)
	}
	return st
}

// add records a new alive key, generating key and secret when empty.
func (st *store) add(key, name, roleID, secret string, now time.Time) *keyRecord {
	for key == "" || st.byKey[key] != nil {
		key = newKeyID()
	}
	if secret == "" {
		secret = newSecret()
	}
	k := &keyRecord{key: key, name: name, roleID: roleID, secret: secret, createdAt: now}
	st.keys = append(st.keys, k)
	st.byKey[key] = k
	st.live[name]++
	if st.live[name] > st.maxLive[name] {
		st.maxLive[name] = st.live[name]
	}
	return k
}

// alive returns the key if it exists and is not deleted.
func (st *store) alive(key string) *keyRecord {
	k := st.byKey[key]
	if k == nil || !k.alive() {
		return nil
	}
	return k
}

func (st *store) remove(k *keyRecord, now time.Time) {
	if !k.alive() {
		return
	}
	k.deletedAt = now
	k.pendingOp = ""
	st.live[k.name]--
}

func (st *store) role(id string) (Role, bool) {
	id = strings.ToLower(id)
	for _, r := range st.roles {
		if r.ID == id {
			return r, true
		}
	}
	return Role{}, false
}

func (st *store) newOperation(command, keyID, state string, polls int) *operation {
	op := &operation{id: uuid.NewString(), state: state, command: command, keyID: keyID, pollsLeft: polls}
	st.ops[op.id] = op
	return op
}

// newKeyID returns "EXO" and 24 lowercase hex digits, like the real keys.
func newKeyID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "EXO" + hex.EncodeToString(b[:])
}

// newSecret returns 43 characters: base64url without padding of 32 random
// bytes, the length of every secret in Exoscale's examples.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
