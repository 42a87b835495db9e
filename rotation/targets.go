package rotation

// Key names are chosen by whoever may create API keys, and a sink's target
// is rendered from the name: two names can render the same target ("ci-a"
// with "{{.Name}}.docker.env", "ci-a.docker" with "{{.Name}}.env"; or
// names that differ only in case on a case-insensitive store). The sinks'
// ownership markers name the policy, not the key name, so without this
// check the second name's rotation would replace the first name's
// credential with a key of its own: an outage for the first name's
// consumer, with a key whose name and role someone else chose.
//
// A target belongs to the name whose record says it was delivered there
// (or whose rotation in flight writes there); a name that renders a target
// another name owns is refused before any key is made or any sink is
// written. Within a pass, the first name to write a target no record owns
// claims it.

import (
	"fmt"
	"sync"

	"github.com/rotatord/rotatord/state"
)

// targetOwners maps sink ids (sinkID: kind and target) to the name that
// owns them. Built from the journal when first asked (a pass that writes
// no sink builds none), then kept up to date by the claims made through it.
type targetOwners struct {
	once  sync.Once
	mu    sync.Mutex
	owner map[string]recordKey
}

// targetsOf returns the pass's index of target owners, or a fresh one
// when there is no pass (the deleter).
func (w *passWork) targetsOf() *targetOwners {
	if w == nil {
		return &targetOwners{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.targets == nil {
		w.targets = &targetOwners{}
	}
	return w.targets
}

// claimTargets checks that every sink target of p for name is name's: no
// other name's record delivers there, and no other name claimed it in this
// pass. It claims the targets no one owns. The error names the target and
// the other name.
func (e *Engine) claimTargets(t *targetOwners, p Policy, name string) error {
	t.once.Do(func() { t.owner = e.targetIndex() })
	me := recordKey{p.Name, name}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, s := range p.Sinks {
		sid := sinkID(s, name)
		// The same key name under another policy (a name that moved) is
		// left to the sinks' markers, which name the policy.
		if o, ok := t.owner[sid]; ok && o.name != name {
			return fmt.Errorf("sink %s: target %s is also the target of key name %q (policy %q), which holds it: two key names render the same target; not writing it for %q",
				sinkLabel(i, s), s.Target(name), o.name, o.policy, name)
		}
	}
	for _, s := range p.Sinks {
		t.owner[sinkID(s, name)] = me
	}
	return nil
}

// targetIndex reads, for every policy in force, which name each recorded
// delivery and each rotation in flight writes to.
func (e *Engine) targetIndex() map[string]recordKey {
	owner := map[string]recordKey{}
	policies, _ := e.snapshotPolicies()
	for _, p := range policies {
		eachRecord(e.store, p.Name, func(r *state.Record) {
			k := recordKey{p.Name, r.Name}
			for _, d := range r.Delivered {
				owner[d.Sink] = k
			}
			if r.Rotation != nil {
				for sid := range r.Rotation.Sinks {
					owner[sid] = k
				}
			}
		})
	}
	return owner
}
