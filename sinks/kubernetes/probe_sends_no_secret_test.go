package kubernetes_test

// The probe's dry-run update goes through the API server's audit log and
// every admission webhook like any request: at audit level Request or
// above, its body is logged. It must not carry the secret the Secret holds
// (the probe runs before every rotation, and on every pass with
// sink_check), only the Secret's shape.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

func TestProbeDryRunUpdateCarriesNoSecret(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	var (
		mu     sync.Mutex
		bodies []string
	)
	cfg := c.RestConfig(user)
	cfg.ContentType = "application/json" // bodies the test can read
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.URL.Query().Get("dryRun") != "" && req.Body != nil {
				b, err := io.ReadAll(req.Body)
				if err != nil {
					return nil, err
				}
				req.Body = io.NopCloser(bytes.NewReader(b))
				mu.Lock()
				bodies = append(bodies, req.Method+" "+string(b))
				mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"", "env"} {
		name := "plain"
		if format != "" {
			name = format
		}
		s, _ := w.sink(fullRules, func(o *ksink.Options) {
			o.Client = cs
			if format != "" {
				o.Format, o.Key = format, "credentials"
			}
		})
		cred := w.cred(name)
		if err := w.note(s.Write(ctxT(t), cred)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		mu.Lock()
		bodies = nil
		mu.Unlock()
		if err := w.note(s.Probe(ctxT(t), name)); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		mu.Lock()
		sent := slices.Clone(bodies)
		mu.Unlock()
		updates := 0
		for _, b := range sent {
			body, ok := strings.CutPrefix(b, http.MethodPut+" ")
			if !ok {
				continue
			}
			updates++
			var sec corev1.Secret
			if err := json.Unmarshal([]byte(body), &sec); err != nil {
				t.Fatalf("dry-run update body: %v", err)
			}
			for k, v := range sec.Data {
				if strings.Contains(string(v), cred.Secret.Reveal()) {
					t.Errorf("format %q: the probe's dry-run update carries the secret in data key %s", format, k)
				}
			}
		}
		if updates == 0 {
			t.Fatalf("format %q: no dry-run update seen (%d dry runs)", format, len(sent))
		}
	}
}
