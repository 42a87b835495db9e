package kubernetes_test

// A write whose answer is lost is fenced by a write of the Secret's
// annotation. A fence the API server refuses without applying it (429
// Too Many Requests from an API server overloaded, the likely reason the
// first answer was lost; 403 once RBAC changed) settles nothing: the lost
// write may still land. Read must not show the old key then (the engine
// would delete the new one, and the lost write land afterwards).

import (
	"context"
	"errors"
	"fmt"
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

// refusingWrites keeps the first Secret write of method once armed (its
// answer lost: 504) and answers the Secret writes after it with code,
// without sending them, while refusing.
type refusingWrites struct {
	method   string
	code     int
	mu       sync.Mutex
	next     http.RoundTripper
	armed    bool
	refusing bool
	held     *http.Request
	body     []byte
}

func (r *refusingWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	isWrite := (req.Method == http.MethodPut || req.Method == http.MethodPost) && strings.Contains(req.URL.Path, "/secrets")
	keep := r.armed && req.Method == r.method && isWrite
	if keep {
		r.armed = false
	}
	refuse := !keep && r.refusing && isWrite
	code := r.code
	r.mu.Unlock()
	if !keep && !refuse {
		return r.next.RoundTrip(req)
	}
	if keep {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.held, r.body = req.Clone(context.Background()), body
		r.mu.Unlock()
		code = http.StatusGatewayTimeout
	}
	status := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"refused by the test","reason":%q,"details":{},"code":%d}`, reasonOf(code), code)
	return &http.Response{
		StatusCode: code,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(status)),
		Request:    req,
	}, nil
}

func reasonOf(code int) string {
	switch code {
	case http.StatusGatewayTimeout:
		return "Timeout"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusForbidden:
		return "Forbidden"
	}
	return "Unknown"
}

func (r *refusingWrites) set(armed, refusing bool) {
	r.mu.Lock()
	r.armed, r.refusing = armed, refusing
	r.mu.Unlock()
}

func (r *refusingWrites) land(t *testing.T) int {
	t.Helper()
	r.mu.Lock()
	req, body := r.held, r.body
	r.mu.Unlock()
	return landKept(t, r.next, req, body, "write")
}

func TestReadDoesNotShowTheOldKeyWhenTheFenceOfALostWriteIsRefused(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	for _, method := range []string{http.MethodPut, http.MethodPost} {
		for _, code := range []int{http.StatusTooManyRequests, http.StatusForbidden} {
			t.Run(fmt.Sprintf("%s %d", method, code), func(t *testing.T) { refusedFence(t, c, method, code) })
		}
	}
}

func refusedFence(t *testing.T, c *kubetest.Cluster, method string, code int) {
	w := newWorld(t, c)
	rw := &refusingWrites{method: method, code: code}
	cfg := c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { rw.next = rt; return rw }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Client = cs })
	ctx := ctxT(t)
	if method == http.MethodPut {
		w.mustWrite(s, w.cred("ci-runner"))
	}
	rw.set(true, true)
	if err := w.note(s.Write(ctx, w.cred("ci-runner"))); err == nil {
		t.Fatal("Write succeeded though its write was answered 504")
	}
	// Every fence is refused: nothing settled the lost write.
	h, err := s.Read(ctx, "ci-runner")
	if w.note(err) == nil || errors.Is(err, sinks.ErrNotHeld) {
		code := rw.land(t)
		t.Errorf("Read while the fence of a lost write is refused (HTTP %d): %q, %v; want an error other than ErrNotHeld; the lost write then landed (HTTP %d): the Secret holds %q", rw.code, h.KeyID, err, code, w.get("exo-ci-runner").Data["api_key"])
		return
	}

	// The fence works again: Read fences first, then what it says stays so.
	rw.set(false, false)
	h, err = s.Read(ctx, "ci-runner")
	if w.note(err) != nil && !errors.Is(err, sinks.ErrNotHeld) {
		t.Fatalf("Read once writes work again: %v", err)
	}
	landed := rw.land(t)
	if got := string(w.get("exo-ci-runner").Data["api_key"]); got != h.KeyID {
		t.Errorf("the lost write landed (HTTP %d) after Read said the Secret holds %q: it holds %q now", landed, h.KeyID, got)
	}
}
