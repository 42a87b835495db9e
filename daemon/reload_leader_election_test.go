package daemon

// Review of issue 15: a reload that changes what the election and the
// journal are.

import (
	"os"
	"testing"
)

// A single rotatord (state directory, no leader_election) being moved to
// HA: the operator edits the policy file to add leader_election and the
// Kubernetes backend, and reloads, as the README says to do after a
// change. The reload succeeds, yet the elector is made only at start: the
// process keeps acting without any Lease (Leading stays true), beside the
// replicas that now elect a leader; and the accounts keep the journal of
// the state directory. A change that cannot take effect must be refused,
// as a change of state_dir is.
func TestReloadAddingLeaderElectionIsNotApplied(t *testing.T) {
	e := newEnv(t)
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	ha := string(b) + "state: {backend: kubernetes, namespace: rotatord}\nleader_election: {}\n"
	if err := os.WriteFile(e.config, []byte(ha), 0o600); err != nil {
		t.Fatal(err)
	}
	err = e.d.Reload()
	if err == nil && e.d.Config().LeaderElection != nil && e.d.elector == nil {
		t.Errorf("reload to leader_election accepted (config in force: leader_election %+v, state %+v), but this process still acts without a Lease (Leading=%v) and its journal stays in the state directory",
			*e.d.Config().LeaderElection, e.d.Config().State, e.d.Leading())
	}
}
