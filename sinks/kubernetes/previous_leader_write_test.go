package kubernetes_test

// A Secret update sent by a replica that died or lost the Lease before its
// answer came may still be on its way (a slow admission webhook, the API
// server's queues, a proxy): that replica cannot fence it any more (its
// requests are refused once it stops leading). The next leader, about to
// roll the new key back because the Secret holds the old one, fences the
// Secret itself (Fence), so that the update fails when it arrives.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// deposedAfterSend keeps the first PUT of a Secret instead of sending it
// (it is on its way), and refuses every later request, as a replica's
// gated client does once it no longer leads.
type deposedAfterSend struct {
	mu   sync.Mutex
	next http.RoundTripper
	req  *http.Request
	body []byte
}

func (d *deposedAfterSend) RoundTrip(req *http.Request) (*http.Response, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.req != nil {
		return nil, errors.New("this replica does not hold the Lease")
	}
	if req.Method != http.MethodPut || !strings.Contains(req.URL.Path, "/secrets/") {
		return d.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	d.req, d.body = req.Clone(context.Background()), body
	return nil, errors.New("read: connection reset by peer")
}

// land sends the kept update now and returns its status code.
func (d *deposedAfterSend) land(t *testing.T) int {
	t.Helper()
	d.mu.Lock()
	req, body := d.req, d.body
	d.mu.Unlock()
	return landKept(t, d.next, req, body, "update")
}

var _ sinks.Fencer = (*ksink.Sink)(nil)

func TestFenceMakesAnEarlierLeadersUpdateOnItsWayFail(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	next, _ := w.sink(fullRules, nil) // the next leader
	old := w.cred("ci-runner")
	w.mustWrite(next, old)

	dep := &deposedAfterSend{}
	cfg := c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { dep.next = rt; return dep }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := w.sink(nil, func(o *ksink.Options) { o.Client = cs }) // the leader that dies
	ctx := ctxT(t)
	neu := w.cred("ci-runner")
	if err := w.note(prev.Write(ctx, neu)); err == nil {
		t.Fatal("Write succeeded though its update never arrived")
	}

	// The next leader finds the old key, fences, and would roll back.
	if h, err := next.Read(ctx, "ci-runner"); w.note(err) != nil || h.KeyID != old.KeyID {
		t.Fatalf("Read: %s, %v; want the old key %s", h.KeyID, err, old.KeyID)
	}
	if err := w.note(next.Fence(ctx, "ci-runner")); err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if h, err := next.Read(ctx, "ci-runner"); w.note(err) != nil || h.KeyID != old.KeyID || h.Secret.Reveal() != old.Secret.Reveal() {
		t.Fatalf("Read after Fence: %s, %v; want the old key %s with its secret", h.KeyID, err, old.KeyID)
	}

	code := dep.land(t)
	if got := string(w.get("exo-ci-runner").Data["api_key"]); got != old.KeyID {
		t.Errorf("the earlier leader's update landed after the Secret was fenced (HTTP %d): it holds %s, the key being rolled back; want the old %s", code, got, old.KeyID)
	}
	// The next write takes the fence's mark away.
	w.mustWrite(next, w.cred("ci-runner"))
	if _, ok := w.get("exo-ci-runner").Annotations[ksink.FencedAtKey]; ok {
		t.Errorf("annotation %s left after a write", ksink.FencedAtKey)
	}
}

// Fence writes nothing where rotatord may not write: no Secret, or
// someone else's.
func TestFenceLeavesAMissingOrForeignSecretAlone(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	s, rec := w.sink(fullRules, nil)
	ctx := ctxT(t)
	if err := w.note(s.Fence(ctx, "ci-runner")); err != nil {
		t.Errorf("Fence with no Secret: %v", err)
	}
	if n := w.secretCount(); n != 0 {
		t.Errorf("%d Secrets after Fence with none, want 0", n)
	}
	foreign := w.createSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "exo-other"}, Data: map[string][]byte{"api_key": []byte("x")}})
	if err := w.note(s.Fence(ctx, "other")); err != nil {
		t.Errorf("Fence of someone else's Secret: %v", err)
	}
	if got := w.get("exo-other"); got.ResourceVersion != foreign.ResourceVersion {
		t.Errorf("someone else's Secret changed by Fence (resourceVersion %s, was %s)", got.ResourceVersion, foreign.ResourceVersion)
	}
	if ws := rec.writes(); len(ws) != 0 {
		t.Errorf("Fence wrote %v", ws)
	}
}
