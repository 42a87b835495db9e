package kubernetes_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// Two names rotate through one sink at once while the API server loses
// every write's answer: each name's pending fence is its own, Read of
// either does not show the old key while its fence is pending, and each
// is fenced once writes work again (run with -race).
func TestPendingFencesOfTwoNamesAtOnceStayApart(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	rw := &refusingWrites{method: "none", code: http.StatusGatewayTimeout}
	cfg := c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { rw.next = rt; return rw }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Client = cs })
	ctx := ctxT(t)
	names := []string{"alpha", "beta"}
	for _, n := range names {
		w.mustWrite(s, w.cred(n))
	}
	rw.set(false, true)
	var wg sync.WaitGroup
	for _, n := range names {
		cred := w.cred(n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if err := s.Write(ctx, cred); err == nil {
					t.Errorf("Write %s succeeded while every write is lost", n)
				}
				if h, err := s.Read(ctx, n); err == nil || errors.Is(err, sinks.ErrNotHeld) {
					t.Errorf("Read %s while its fence is pending: %q, %v", n, h.KeyID, err)
				}
			}
		}()
	}
	wg.Wait()
	rw.set(false, false)
	for _, n := range names {
		if _, err := s.Read(ctx, n); err != nil {
			t.Errorf("Read %s once writes work: %v", n, err)
		}
		if got := w.get("exo-" + n).Annotations[ksink.FencedAtKey]; got == "" {
			t.Errorf("Secret of %s not fenced by the Read", n)
		}
	}
}
