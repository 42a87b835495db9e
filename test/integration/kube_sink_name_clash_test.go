package integration

import (
	"slices"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// A Secret name template that keeps only part of the key name (here its
// first six characters) renders one Secret for ci-runner and ci-runtime.
// The real `rotatord once` gives it to one of them and refuses the other,
// before it makes a key for it, on every pass: the second name's rotation
// never overwrites the first's credential.
func TestKubeSinkSecretTwoKeyNamesRenderIsGivenToOne(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	e := newEnv(t, seedKey{"ci-runner", "ci"}, seedKey{"ci-runtime", "ci"})
	c.CreateNamespace(t, "clash")
	k := &ksEnv{env: e, c: c, ns: "clash", admin: c.Client(t, kubetest.Admin)}
	c.Grant(t, "rotatord", k.ns, ksSinkRules)
	kubeconfig := c.Kubeconfig(t, "rotatord")
	k.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    max_age: 1h
    grace_period: 1h
    sinks:
` + ksSink(k.ns, `exo-{{printf "%.6s" .Name}}`, kubeconfig, ""))
	var holder, refused string
	for i := range 3 {
		r := k.rotatord("once", "--force")
		table := parseTable(t, r.stdout)
		runner, runtime := row(t, table, "ci-runner"), row(t, table, "ci-runtime")
		// One of them is rotated (the first time) or waits; the other
		// is refused for the clash.
		var ok, bad map[string]string
		switch {
		case strings.Contains(runner["ERROR"], "render the same target"):
			ok, bad, refused = runtime, runner, "ci-runner"
		case strings.Contains(runtime["ERROR"], "render the same target"):
			ok, bad, refused = runner, runtime, "ci-runtime"
		default:
			t.Fatalf("pass %d: neither name was refused for the Secret both render:\n%s", i, r)
		}
		if ok["ERROR"] != "-" || bad["RESULT"] != "failed" {
			t.Errorf("pass %d: outcomes %v and %v", i, ok, bad)
		}
		if r.code == 0 {
			t.Errorf("pass %d: exit 0 with a name refused", i)
		}
		id := k.holds("exo-ci-run")
		s, _ := k.secret("exo-ci-run")
		name := s.Annotations["rotatord.io/key-name"]
		if i == 0 {
			holder = name
		}
		if name != holder || name == refused {
			t.Fatalf("pass %d: the Secret went from %s's key to %s's (refused: %s)", i, holder, name, refused)
		}
		if !slices.ContainsFunc(e.sim.live(holder), func(k simKey) bool { return k.Key == id }) {
			t.Errorf("pass %d: the Secret holds %s, not a live key of %s", i, id, holder)
		}
		if n := len(e.sim.live(refused)); n != 1 {
			t.Errorf("pass %d: %s has %d live keys, want its one key (no key made for a refused name)", i, refused, n)
		}
	}
	e.checkNoSecretInOutput()
}
