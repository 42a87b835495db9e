package kubernetes_test

// An update of the Secret whose answer is lost but which the API server
// applies later: kube-apiserver answers 504 ("request did not complete
// within the allotted timeout") while etcd still has the write pending, and
// a load balancer in front of it can answer 504 while its backend goes on.
// The engine reads the Secret after the failed Write; when it still holds
// the old key, nothing holds the new one, and the engine deletes the new
// key. If the write lands after that read, the Secret holds a deleted key:
// its consumers lose their credential until the next rotation.

import (
	"bytes"
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

// lateWrites keeps the next PUT (or POST) of a Secret instead of sending it, answers
// it 504 as kube-apiserver does when its storage is slow, and can send it
// later.
type lateWrites struct {
	mu     sync.Mutex
	armed  bool
	method string // PUT (an update) unless set
	next   http.RoundTripper
	held   *http.Request
	body   []byte
}

func (l *lateWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	method := l.method
	if method == "" {
		method = http.MethodPut
	}
	take := l.armed && req.Method == method && strings.Contains(req.URL.Path, "/secrets")
	if take {
		l.armed = false
	}
	l.mu.Unlock()
	if !take {
		return l.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.held, l.body = req.Clone(context.Background()), body
	l.mu.Unlock()
	status := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Timeout: request did not complete within requested timeout - context deadline exceeded","reason":"Timeout","details":{},"code":504}`
	return &http.Response{
		StatusCode: http.StatusGatewayTimeout,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(status)),
		Request:    req,
	}, nil
}

// land sends the kept request now, and returns the status of its answer.
func (l *lateWrites) land(t *testing.T) int {
	t.Helper()
	l.mu.Lock()
	req, body := l.held, l.body
	l.mu.Unlock()
	return landKept(t, l.next, req, body, "update")
}

// lateWriteSink is a Secret sink on a fresh cluster whose client sends
// its writes of method through late (armed by the caller).
func lateWriteSink(t *testing.T, method string) (*world, *ksink.Sink, *lateWrites) {
	t.Helper()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	late := &lateWrites{method: method}
	cfg := c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { late.next = rt; return late }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Client = cs })
	return w, s, late
}

func (l *lateWrites) arm() {
	l.mu.Lock()
	l.armed = true
	l.mu.Unlock()
}

func TestUpdateAnsweredLostCannotLandAfterTheOldKeyIsReadBack(t *testing.T) {
	t.Parallel()
	w, s, late := lateWriteSink(t, "")
	old := w.cred("ci-runner")
	w.mustWrite(s, old)

	ctx := ctxT(t)
	neu := w.cred("ci-runner")
	late.arm()
	err := w.note(s.Write(ctx, neu))
	if err == nil {
		t.Fatal("Write succeeded though its update was answered 504")
	}
	if sinks.IsNothingSent(err) {
		t.Fatalf("Write says it sent nothing, though its update may land: %v", err)
	}
	// What the engine does next: read the sink. The old key there means
	// the new key reached no sink, and the engine deletes it.
	h, err := s.Read(ctx, "ci-runner")
	if w.note(err) != nil {
		t.Fatalf("Read after the failed Write: %v", err)
	}
	if h.KeyID != old.KeyID {
		t.Skipf("the Secret holds %s after the failed Write: the engine keeps the new key", h.KeyID)
	}
	// Now the kept update reaches the API server.
	code := late.land(t)
	if got := string(w.get("exo-ci-runner").Data["api_key"]); got != old.KeyID {
		t.Errorf("the update answered 504 landed (HTTP %d) after the sink read the old key back: the Secret holds %s, a key the engine has rolled back; want the old %s", code, got, old.KeyID)
	}
}

// The same with the Secret's first delivery: a create answered 504 that
// lands after the engine found no Secret and deleted the new key would
// leave a Secret with a deleted key for consumers waiting for it.
func TestCreateAnsweredLostCannotLandAfterNoSecretIsReadBack(t *testing.T) {
	t.Parallel()
	w, s, late := lateWriteSink(t, http.MethodPost)
	ctx := ctxT(t)
	neu := w.cred("ci-runner")
	late.arm()
	err := w.note(s.Write(ctx, neu))
	if err == nil {
		t.Fatal("Write succeeded though its create was answered 504")
	}
	if sinks.IsNothingSent(err) {
		t.Fatalf("Write says it sent nothing, though its create may land: %v", err)
	}
	if _, err := s.Read(ctx, "ci-runner"); !errors.Is(err, sinks.ErrNotHeld) {
		t.Skipf("Read after the failed Write: %v, not ErrNotHeld: the engine keeps the new key", err)
	}
	code := late.land(t)
	if got := string(w.get("exo-ci-runner").Data["api_key"]); got != "" {
		t.Errorf("the create answered 504 landed (HTTP %d) after the sink found no Secret: it holds %s, a key the engine has rolled back", code, got)
	}
}

// landKept sends a write a test transport kept back (req, with its body)
// through next now, and returns the status of its answer: the late write
// of a client that gave up on it.
func landKept(t *testing.T, next http.RoundTripper, req *http.Request, body []byte, what string) int {
	t.Helper()
	if req == nil {
		t.Fatalf("no Secret %s was kept", what)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	resp, err := next.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}
