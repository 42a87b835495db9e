package kubernetes_test

// An update whose answer is lost is fenced (fenceLostUpdate) by an update
// of the Secret's annotation, tried a few times. When every one of those
// is lost too (the API server's writes stall: etcd slow, an admission
// webhook timing out) while a GET still works, the Secret reads as holding
// the old key: the engine takes that as "no sink holds the new key" and
// deletes it, and the first update, still on its way, can land afterwards
// and leave the Secret with the deleted key.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// stallingWrites keeps the first PUT (or POST, method) of a Secret once
// armed (it is on its way), and answers the Secret writes after it 504
// without sending them while stalled.
type stallingWrites struct {
	method  string
	mu      sync.Mutex
	next    http.RoundTripper
	armed   bool
	stalled bool
	held    *http.Request
	body    []byte
}

func (s *stallingWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	isWrite := (req.Method == http.MethodPut || req.Method == http.MethodPost) && strings.Contains(req.URL.Path, "/secrets")
	keep := s.armed && req.Method == s.method && isWrite
	if keep {
		s.armed = false
	}
	drop := !keep && s.stalled && isWrite
	s.mu.Unlock()
	if !keep && !drop {
		return s.next.RoundTrip(req)
	}
	if keep {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.held, s.body = req.Clone(context.Background()), body
		s.mu.Unlock()
	}
	status := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Timeout: request did not complete within requested timeout - context deadline exceeded","reason":"Timeout","details":{},"code":504}`
	return &http.Response{
		StatusCode: http.StatusGatewayTimeout,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(status)),
		Request:    req,
	}, nil
}

func (s *stallingWrites) set(armed, stalled bool) {
	s.mu.Lock()
	s.armed, s.stalled = armed, stalled
	s.mu.Unlock()
}

// land sends the kept update now and returns its status code.
func (s *stallingWrites) land(t *testing.T) int {
	t.Helper()
	s.mu.Lock()
	req, body := s.held, s.body
	s.mu.Unlock()
	return landKept(t, s.next, req, body, "update")
}

func TestReadDoesNotShowTheOldKeyWhileALostUpdateIsUnfenced(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	t.Run("update", func(t *testing.T) { lostWriteUnfenced(t, c, http.MethodPut) })
	t.Run("create", func(t *testing.T) { lostWriteUnfenced(t, c, http.MethodPost) })
}

func lostWriteUnfenced(t *testing.T, c *kubetest.Cluster, method string) {
	w := newWorld(t, c)
	st := &stallingWrites{method: method}
	cfg := c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { st.next = rt; return st }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Client = cs })
	ctx := ctxT(t)
	if method == http.MethodPut {
		w.mustWrite(s, w.cred("ci-runner"))
	}
	st.set(true, true)
	if err := w.note(s.Write(ctx, w.cred("ci-runner"))); err == nil {
		t.Fatal("Write succeeded though its update was answered 504")
	}
	// The writes still stall: what the engine reads next must not say the
	// Secret holds the old key or none (it would delete the new key).
	if h, err := s.Read(ctx, "ci-runner"); w.note(err) == nil || errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("Read while a lost write is on its way and unfenced: %q, %v; want an error other than ErrNotHeld (the new key may still land)", h.KeyID, err)
	}

	// The writes work again: Read fences first, then says what is held,
	// and that stays so when the first update arrives.
	st.set(false, false)
	h, err := s.Read(ctx, "ci-runner")
	if w.note(err) != nil && !errors.Is(err, sinks.ErrNotHeld) {
		t.Fatalf("Read once writes work again: %v", err)
	}
	code := st.land(t)
	if got := string(w.get("exo-ci-runner").Data["api_key"]); got != h.KeyID {
		t.Errorf("the lost update landed (HTTP %d) after Read said the Secret holds %s: it holds %s now, a key the engine has rolled back", code, h.KeyID, got)
	}
}
