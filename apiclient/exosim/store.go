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
	Key string `json:"key"`
	// Org is the organization the key belongs to (DefaultOrg or a name
	// from Seed.Organizations).
	Org       string     `json:"org"`
	Name      string     `json:"name"`
	RoleID    string     `json:"role_id"`
	Secret    string     `json:"secret"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// Alive is true until the key is deleted: a key whose create is not
	// applied yet, and a zombie, are alive.
	Alive bool `json:"alive"`
	// AppliedAt is when a late-applied create takes (or took) effect: the
	// key is invisible to the API and cannot sign before it. Absent for a
	// key applied at once.
	AppliedAt *time.Time `json:"applied_at,omitempty"`
	// Applied is false while a late create is not applied yet.
	Applied bool `json:"applied"`
	// Zombie is true while the key is listed but answers 403 "API Key not
	// in organization" to DELETE and cannot sign; the platform removes it
	// by itself at ZombieUntil. ZombieSince stays set after the removal.
	Zombie      bool       `json:"zombie,omitempty"`
	ZombieSince *time.Time `json:"zombie_since,omitempty"`
	ZombieUntil *time.Time `json:"zombie_until,omitempty"`
	// External is true for a key created through the control surface
	// ("someone else", not an API client).
	External bool `json:"external,omitempty"`
	// DeletedBy says who deleted the key: "api" (a DELETE call),
	// "external" (the control surface) or "platform" (a zombie removed).
	DeletedBy string `json:"deleted_by,omitempty"`
	// AnsweredRateLimited is true for a key made by a create that the
	// applied_rate_limit fault answered 429: its secret reached nobody.
	// Only the control surface shows it, never the API.
	AnsweredRateLimited bool `json:"answered_rate_limited,omitempty"`
}

// Operation states the simulator produces.
const (
	stateSuccess = "success"
	statePending = "pending"
	stateFailure = "failure"
)

// Who deleted a key (KeyRecord.DeletedBy).
const (
	DeletedByAPI      = "api"
	DeletedByExternal = "external"
	DeletedByPlatform = "platform"
)

type keyRecord struct {
	org                       string
	key, name, roleID, secret string
	createdAt                 time.Time
	appliedAt                 time.Time // after createdAt for a late-applied create
	deletedAt                 time.Time // zero while alive
	deletedBy                 string
	pendingOp                 string    // id of a pending delete operation
	zombieSince               time.Time // zero unless the key became a zombie
	zombieUntil               time.Time // when the platform removes the zombie
	external                  bool
	answeredRateLimited       bool // made by a create answered 429
}

func (k *keyRecord) alive() bool { return k.deletedAt.IsZero() }

// applied reports whether the create has taken effect at t.
func (k *keyRecord) applied(t time.Time) bool { return !t.Before(k.appliedAt) }

// visibleAt reports whether the API showed the key at t: applied by then and
// not yet deleted. Zombies are visible.
func (k *keyRecord) visibleAt(t time.Time) bool {
	return k.applied(t) && (k.deletedAt.IsZero() || t.Before(k.deletedAt))
}

// zombie reports whether the key is an undeletable zombie now.
func (k *keyRecord) zombie() bool { return k.alive() && !k.zombieSince.IsZero() }

func (k *keyRecord) export(now time.Time) KeyRecord {
	r := KeyRecord{
		Key: k.key, Org: k.org, Name: k.name, RoleID: k.roleID, Secret: k.secret, CreatedAt: k.createdAt,
		Alive: k.alive(), Applied: k.applied(now), Zombie: k.zombie(), External: k.external, DeletedBy: k.deletedBy,
		AnsweredRateLimited: k.answeredRateLimited,
	}
	if !k.alive() {
		t := k.deletedAt
		r.DeletedAt = &t
	}
	if k.appliedAt.After(k.createdAt) {
		t := k.appliedAt
		r.AppliedAt = &t
	}
	if !k.zombieSince.IsZero() {
		since, until := k.zombieSince, k.zombieUntil
		r.ZombieSince, r.ZombieUntil = &since, &until
	}
	return r
}

type operation struct {
	org                       string
	id, state, command, keyID string
	reason                    string // of a failure
	pollsLeft                 int    // pending answers still to give
	failAtEnd                 bool   // a pending operation that ends in failure
}

// store is the simulated organizations. Keys, role ids and operation ids
// are unique across organizations, so one table of each serves them all and
// every record says its organization. It is not safe for concurrent use:
// Sim guards it with its mutex.
type store struct {
	roles   map[string][]Role // per organization
	keys    []*keyRecord      // in creation order, deleted ones included
	byKey   map[string]*keyRecord
	ops     map[string]*operation
	live    map[orgName]int // alive keys per organization and name
	maxLive map[orgName]int // the highest live count seen per organization and name
	// zombies are the alive zombie keys, so that sweep, which every
	// request makes, costs nothing when there are none (keys holds every
	// key ever created: 20,000 after a forced pass over 10,000).
	zombies map[*keyRecord]struct{}
}

// orgName is a key name within an organization: the same name in two
// organizations belongs to two unrelated sets of keys.
type orgName struct{ org, name string }

// newStore builds the store and returns it with each organization's admin
// credential.
func newStore(seed resolvedSeed, now time.Time) (*store, map[string]Credential) {
	st := &store{
		roles:   map[string][]Role{},
		byKey:   map[string]*keyRecord{},
		ops:     map[string]*operation{},
		live:    map[orgName]int{},
		maxLive: map[orgName]int{},
		zombies: map[*keyRecord]struct{}{},
	}
	admins := map[string]Credential{}
	for _, o := range seed {
		st.roles[o.name] = append([]Role(nil), o.roles...)
		for i, k := range o.keys {
			rec := st.add(o.name, k.Key, k.Name, k.Role, k.Secret, now)
			if i == 0 { // resolve puts the admin first
				admins[o.name] = Credential{Key: rec.key, Secret: rec.secret}
			}
		}
	}
	return st, admins
}

// add records a new alive key of org, generating key and secret when empty.
func (st *store) add(org, key, name, roleID, secret string, now time.Time) *keyRecord {
	for key == "" || st.byKey[key] != nil {
		key = newKeyID()
	}
	if secret == "" {
		secret = newSecret()
	}
	k := &keyRecord{org: org, key: key, name: name, roleID: roleID, secret: secret, createdAt: now, appliedAt: now}
	st.keys = append(st.keys, k)
	st.byKey[key] = k
	on := orgName{org, name}
	st.live[on]++
	if st.live[on] > st.maxLive[on] {
		st.maxLive[on] = st.live[on]
	}
	return k
}

// alive returns the key if it exists, is not deleted and its create is
// applied at now: a key the API can see.
func (st *store) alive(key string, now time.Time) *keyRecord {
	k := st.byKey[key]
	if k == nil || !k.alive() || !k.applied(now) {
		return nil
	}
	return k
}

func (st *store) remove(k *keyRecord, now time.Time, by string) {
	if !k.alive() {
		return
	}
	k.deletedAt = now
	k.deletedBy = by
	k.pendingOp = ""
	st.live[orgName{k.org, k.name}]--
	delete(st.zombies, k)
}

// makeZombie makes k a zombie from now until the platform removes it.
func (st *store) makeZombie(k *keyRecord, now time.Time, d time.Duration) {
	k.zombieSince, k.zombieUntil = now, now.Add(d)
	st.zombies[k] = struct{}{}
}

// sweep removes the zombies whose time has come, as the platform does by
// itself, dated when they were due.
func (st *store) sweep(now time.Time) {
	for k := range st.zombies {
		if k.zombie() && !now.Before(k.zombieUntil) {
			st.remove(k, k.zombieUntil, DeletedByPlatform)
		}
	}
}

// role finds a role of org by id: a role of another organization is as
// unknown to org as one that does not exist.
func (st *store) role(org, id string) (Role, bool) {
	id = strings.ToLower(id)
	for _, r := range st.roles[org] {
		if r.ID == id {
			return r, true
		}
	}
	return Role{}, false
}

func (st *store) newOperation(org, command, keyID, state string, polls int) *operation {
	op := &operation{id: uuid.NewString(), org: org, state: state, command: command, keyID: keyID, pollsLeft: polls}
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
