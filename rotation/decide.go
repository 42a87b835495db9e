package rotation

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/window"
	"github.com/rotatord/rotatord/state"
)

// Action is what the engine does next for one key name.
type Action string

const (
	ActionNone    Action = "none"    // nothing to do now
	ActionRotate  Action = "rotate"  // create a replacement and deliver it
	ActionRecover Action = "recover" // an interrupted rotation: resume it or roll it back
	ActionDelete  Action = "delete"  // the grace period is over: delete the old keys
	ActionSkip    Action = "skip"    // never touch this name
)

// Reason says why. The values are stable: they appear in logs and in `plan`.
type Reason string

const (
	ReasonFresh          Reason = "younger than max_age"
	ReasonExpired        Reason = "older than max_age"
	ReasonForced         Reason = "forced"
	ReasonAgeUnknown     Reason = "age unknown (adopt: rotate)"
	ReasonCurrentGone    Reason = "the current key no longer exists"
	ReasonSeveralKeys    Reason = "several keys and no record of which one the sinks hold"
	ReasonInterrupted    Reason = "a rotation was interrupted"
	ReasonStopping       Reason = "rotatord is stopping: the next start rotates it"
	ReasonGraceRunning   Reason = "grace period running"
	ReasonGraceOver      Reason = "grace period over"
	ReasonBackoff        Reason = "backing off after a failure"
	ReasonOwnKey         Reason = "holds the key rotatord authenticates with"
	ReasonConcurrent     Reason = "just handled by a concurrent pass"
	ReasonTwoKeys        Reason = "two live keys already: a rotation would make a third"
	ReasonRetireOthers   Reason = "several live keys: a pass keeps the one its sinks hold and deletes the others after the grace period"
	ReasonRolesUnknown   Reason = "keys of several roles and no sink holds any: the consumer's role is unknown"
	ReasonReloaded       Reason = "the policies changed during the pass"
	ReasonConfirming     Reason = "grace period over; new key confirmed by this process, deletion follows shortly"
	ReasonCreateSettle   Reason = "a create's outcome is unknown; looking for its key until the API has settled"
	ReasonNewKeySettle   Reason = "the new key of an interrupted rotation is not visible yet; waiting for the API to settle"
	ReasonRollbackSettle Reason = "the new key of a rolled-back rotation is not visible yet; deleting it once the API shows it or has settled"
	ReasonOutsideWindow  Reason = "due, outside the policy's windows; waits for the next one"
	ReasonStuck          Reason = "a rotation cannot go on safely; see the last error"
	ReasonSinkLost       Reason = "a sink lost the current key and no sink can give it back"
	// ReasonFormerOwnKeys: keys of a name and role rotatord signed with
	// before its credential store was given a key of another one.
	ReasonFormerOwnKeys Reason = "live keys of rotatord's former own name and role: left alone"
	// ReasonNewKeyVanished: a deletion found the new key gone (the
	// sinks hold a key that signs nothing): the old keys are kept, the
	// rotation is cleared, and the name rotates again at the next pass,
	// which the daemon runs at once (a follow-up), not at its schedule.
	ReasonNewKeyVanished Reason = "the new key vanished: old keys kept, the name rotates again"
	// ReasonCutRotation, ReasonCutRecovery: a pass cut by another cause
	// than a stop (once's SIGINT, a replica that lost the Lease) did not
	// start them; nothing stops, so not ReasonStopping.
	ReasonCutRotation Reason = "pass cut before its rotation started: the next pass rotates it"
	ReasonCutRecovery Reason = "pass cut before its recovery started: the next pass recovers it"
	// ReasonCutUnhandled: a cut pass (a stop's included) never handed the
	// name to a handler, so nothing was decided of it: neither that it is
	// due nor that it is not.
	ReasonCutUnhandled Reason = "pass cut before this name was looked at: the next pass does"
)

// Input is everything a decision depends on.
type Input struct {
	Now           time.Time
	MaxAge        time.Duration
	Force         bool // rotate whatever the age
	IgnoreBackoff bool // `once` retries at once
	OwnKeyID      string
	Live          []apiclient.Key // the live keys of this name
	Record        state.Record    // already reconciled with Live
	// GracePeriod is the policy's in force: a delivered rotation's old
	// keys wait for the later of its recorded end and its delivery plus
	// this (deleteAt).
	GracePeriod time.Duration
	// JitterOffset moves the name's due time later (JitterOffset).
	JitterOffset time.Duration
	// Windows, unless IgnoreWindows: a rotation or deletion due outside
	// them waits for the next one.
	Windows       window.Set
	IgnoreWindows bool
	// SinkLost: a sink check found a sink without the current key that
	// no other sink could refill (sinkcheck.go): rotate now.
	SinkLost bool
}

// Decision is the outcome, with the time the next action becomes due when
// there is nothing to do now (zero if unknown).
type Decision struct {
	Action Action
	Reason Reason
	Due    time.Time
}

// Decide says what to do with one key name. It is pure: same input, same answer.
func Decide(in Input) Decision {
	d := decide(in)
	if (d.Action == ActionRotate || d.Action == ActionDelete) && !in.IgnoreWindows && !in.Windows.Contains(in.Now) {
		return Decision{Action: ActionNone, Reason: ReasonOutsideWindow, Due: in.Windows.NextOpen(in.Now)}
	}
	if d.Reason == ReasonBackoff && !in.IgnoreWindows && !in.Windows.Contains(d.Due) {
		// What the end of the backoff leads to: a deletion (a consumer
		// check that failed) or a rotation waits for the next window
		// then, and that opening is when it is due (`plan`'s NEXT); a
		// recovery waits for no window.
		after := in
		after.Now, after.IgnoreBackoff = d.Due, true
		if n := decide(after); n.Action == ActionRotate || n.Action == ActionDelete {
			if next := in.Windows.NextOpen(d.Due); !next.IsZero() {
				d.Due = next
			}
		}
	}
	if d.Reason == ReasonGraceRunning && !in.IgnoreWindows && !in.Windows.Contains(d.Due) {
		// A grace period that ends outside the windows ends in a
		// deletion at the next opening: that is when it is due
		// (`plan`'s NEXT). Rotations in flight are few: the cost of
		// NextOpen is paid for them only.
		if next := in.Windows.NextOpen(d.Due); !next.IsZero() {
			d.Due = next
		}
	}
	return d
}

func decide(in Input) Decision {
	if in.OwnKeyID != "" && slices.ContainsFunc(in.Live, func(k apiclient.Key) bool { return k.ID == in.OwnKeyID }) {
		return Decision{Action: ActionSkip, Reason: ReasonOwnKey}
	}
	r := in.Record
	backingOff := !in.IgnoreBackoff && r.Failures > 0 && in.Now.Before(r.LastFailure.Add(Backoff(r.Failures)))

	if rot := r.Rotation; rot != nil {
		switch rot.Phase {
		case state.PhaseDelivered:
			if at := deleteAt(rot, in.GracePeriod); in.Now.Before(at) {
				return Decision{Action: ActionNone, Reason: ReasonGraceRunning, Due: at}
			}
			if backingOff {
				// A deletion that failed (a before_delete hook, the
				// API, a sink) waits for its backoff in a pass as in
				// the deleter (DeleteDue): passes a few seconds apart
				// would otherwise rerun the consumer check each time.
				return Decision{Action: ActionNone, Reason: ReasonBackoff, Due: r.LastFailure.Add(Backoff(r.Failures))}
			}
			return Decision{Action: ActionDelete, Reason: ReasonGraceOver}
		default:
			if backingOff {
				return Decision{Action: ActionNone, Reason: ReasonBackoff, Due: r.LastFailure.Add(Backoff(r.Failures))}
			}
			return Decision{Action: ActionRecover, Reason: ReasonInterrupted}
		}
	}
	if len(in.Live) == 0 {
		return Decision{Action: ActionNone, Reason: ReasonCurrentGone}
	}
	if backingOff {
		return Decision{Action: ActionNone, Reason: ReasonBackoff, Due: r.LastFailure.Add(Backoff(r.Failures))}
	}
	d := decideAge(in)
	if d.Action == ActionRotate && sameRole(in.Live, r.RoleID) >= 2 {
		// Never a third key: with two live and no rotation in flight,
		// nothing says which one consumers use.
		return Decision{Action: ActionNone, Reason: ReasonTwoKeys}
	}
	return d
}

// decideAge says whether a name with no rotation in flight is due.
func decideAge(in Input) Decision {
	r := in.Record
	switch {
	case in.Force:
		return Decision{Action: ActionRotate, Reason: ReasonForced}
	case in.SinkLost:
		return Decision{Action: ActionRotate, Reason: ReasonSinkLost}
	case r.CurrentKeyID == "":
		return Decision{Action: ActionRotate, Reason: ReasonSeveralKeys}
	case !slices.ContainsFunc(in.Live, func(k apiclient.Key) bool { return k.ID == r.CurrentKeyID }):
		return Decision{Action: ActionRotate, Reason: ReasonCurrentGone}
	case r.CurrentSince.IsZero():
		return Decision{Action: ActionRotate, Reason: ReasonAgeUnknown}
	}
	// Added one after the other: each may be near the largest Duration
	// (max_age 200y, jitter 150y), and their sum would wrap around to a
	// negative age, every key due at every pass.
	due := r.CurrentSince.Add(in.MaxAge).Add(in.JitterOffset)
	if !in.Now.Before(due) {
		return Decision{Action: ActionRotate, Reason: ReasonExpired}
	}
	return Decision{Action: ActionNone, Reason: ReasonFresh, Due: due}
}

// Backoff is how long to wait after the n-th consecutive failure: one
// minute, doubling, capped at one hour.
func Backoff(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := time.Minute
	for i := 1; i < failures && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Reconcile brings a record up to date with the keys the API lists now: it
// notes first sightings, forgets keys that are gone and refreshes the role.
// For a name never seen before it makes a new record; which key is current
// is then known only if there is exactly one (see Engine for the rest).
// It reports whether anything changed.
func Reconcile(now time.Time, rec state.Record, known bool, policy, name string, live []apiclient.Key, adoptRotate bool) (state.Record, bool) {
	changed := false
	if !known {
		rec = state.Record{Policy: policy, Name: name}
		changed = true
	} else {
		rec = rec.Clone()
	}
	liveIDs := make(map[string]bool, len(live))
	for _, k := range live {
		liveIDs[k.ID] = true
	}
	// A key the API acknowledged deleting is forgotten once listings stop
	// showing it; until then it is not a live key of the name.
	live = withoutDeleted(live, rec)
	for _, k := range live {
		if !rec.FirstSeen.Has(k.ID) {
			rec.FirstSeen.Set(k.ID, now)
			changed = true
		}
	}
	for _, e := range slices.Clone(rec.FirstSeen) {
		if !liveIDs[e.ID] || rec.Deleted.Has(e.ID) {
			rec.FirstSeen.Delete(e.ID)
			changed = true
		}
	}
	if !known && len(live) == 1 {
		rec.CurrentKeyID = live[0].ID
		if !adoptRotate {
			rec.CurrentSince = now
		}
	}
	// The role of the current key is the role its replacement gets. With
	// no current key, a role some live key still has is kept (so mixed
	// roles do not flip from pass to pass), else the role of the keys is
	// taken when they all have one; of several roles none is taken (the
	// engine asks the sinks: the first key listed may be anyone's).
	role := ""
	for _, k := range live {
		if k.ID == rec.CurrentKeyID {
			role = k.RoleID
		}
	}
	if rec.CurrentKeyID == "" && len(live) > 0 && distinctRoles(live) == 1 &&
		!slices.ContainsFunc(live, func(k apiclient.Key) bool { return sameRoleID(k.RoleID, rec.RoleID) }) {
		role = live[0].RoleID
	}
	if role != "" && !sameRoleID(role, rec.RoleID) {
		rec.RoleID = role
		changed = true
	}
	return rec, changed
}

// sameRole counts the keys of a role (all of them when role is unknown):
// keys of another role under the same name are other credentials.
func sameRole(keys []apiclient.Key, role string) int {
	n := 0
	for _, k := range keys {
		if role == "" || k.RoleID == "" || sameRoleID(k.RoleID, role) {
			n++
		}
	}
	return n
}

// sameRoleID reports whether a and b name the same role. Role ids are
// UUIDs, which compare without regard to case: an API may answer one
// role id spelled in two cases (a key listed with the spelling it was
// created with, a new key with the role's own), and taking those for two
// roles would hide from the orphan search the very key a create made.
func sameRoleID(a, b string) bool { return strings.EqualFold(a, b) }

// JitterOffset is name's share of a policy's jitter: a fraction of it taken
// from a hash of the name, the same on every run and every machine, so
// names created together come due spread over the jitter.
func JitterOffset(name string, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return 0
	}
	// SHA-256, not FNV: names that differ in their last characters only
	// (ci-0001, ci-0002) must land far apart.
	sum := sha256.Sum256([]byte(name))
	return time.Duration(float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53) * float64(jitter)) // 53 bits: below 1, exactly
}
