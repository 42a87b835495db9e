package rotation

import (
	"context"
	"testing"

	"github.com/rotatord/rotatord/sinks"
)

// A reload that removes a sink makes the name give its target up, and
// another name may take it; a reload that adds the sink back must not
// find the first name's old delivery and take the target for delivered:
// the first name's consumer would read the other name's key with no error
// said, and the first name never rotate again (found by review: deliveries
// to removed sinks stayed in the record, and the record stayed quiet).
func TestADeliveryToARemovedSinkIsForgotten(t *testing.T) {
	h, env, docker, dir := clashHarness(t)
	v1 := h.policy
	h.api.add("ci-a", roleCI)
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err != nil {
		t.Fatal(o.Err)
	}
	first := h.current("ci-a")

	v2 := v1
	v2.Sinks = []sinks.Sink{env} // ci-a's docker file is given up
	if err := h.engine.SetPolicies([]Policy{v2}); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{})
	if _, ok := h.record("ci-a").Delivered.Get(sinkID(docker, "ci-a")); ok {
		t.Error("the delivery to the removed sink is still recorded after a pass")
	}
	h.api.add("ci-a.docker", roleCI) // its env file is ci-a's docker file
	if o := findOutcome(h.pass(Options{}), "ci-a.docker"); o.Err != nil {
		t.Fatalf("ci-a.docker, on a target no name holds: %v", o.Err)
	}
	taker := h.current("ci-a.docker")

	if err := h.engine.SetPolicies([]Policy{v1}); err != nil { // the sink is back
		t.Fatal(err)
	}
	h.pass(Options{})
	got, err := docker.Read(context.Background(), "ci-a")
	if err != nil || got.KeyID != taker {
		t.Errorf("%s/ci-a.docker.env holds %s (err %v), want ci-a.docker's key %s, which took it", dir, got.KeyID, err, taker)
	}
	if d, ok := h.record("ci-a").Delivered.Get(sinkID(docker, "ci-a")); ok {
		t.Errorf("ci-a's record says it delivered %s to %s/ci-a.docker.env, which holds ci-a.docker's key", d.KeyID, dir)
	}
	if h.current("ci-a") != first {
		t.Errorf("ci-a rotated to %s: its docker target is another name's", h.current("ci-a"))
	}
	o := findOutcome(h.pass(Options{Force: true, IgnoreBackoff: true}), "ci-a")
	if o.Err == nil {
		t.Error("ci-a rotated, writing over ci-a.docker's credential")
	}
	h.assertNoSecretLeak()
}
