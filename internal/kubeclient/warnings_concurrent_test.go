package kubeclient

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// TestWarningsOfConcurrentRequestsKeepTheirOwnData: the handler is shared
// by every request of a client; each warning must be hidden with the data
// of the request that drew it, not another's. The server answers each
// request with a warning quoting the base64 of the body's secret marker.
func TestWarningsOfConcurrentRequestsKeepTheirOwnData(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		i := strings.Index(string(body), "secret-of-")
		if i >= 0 {
			v := string(body[i : i+len("secret-of-00")])
			w.Header().Add("Warning", fmt.Sprintf(`299 - "quoting %s"`, base64.StdEncoding.EncodeToString([]byte(v))))
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x"}}`))
	}))
	defer srv.Close()
	var (
		mu     sync.Mutex
		logged []string
	)
	// The logger goes in the requests' context (klog.FromContext), not
	// in klog's global: setting that races with other tests' client-go
	// goroutines still logging.
	logCtx := klog.NewContext(context.Background(), funcr.New(func(prefix, args string) {
		if !strings.Contains(args, "Warning: ") {
			return // client-go's own lines (throttling)
		}
		mu.Lock()
		logged = append(logged, args)
		mu.Unlock()
	}, funcr.Options{}))
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, QPS: 1000, Burst: 1000, WarningHandlerWithContext: warnings{},
		ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := map[string][]byte{"s": []byte(fmt.Sprintf("secret-of-%02d", i))}
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}, StringData: map[string]string{"marker": string(data["s"])}}
			if _, err := cs.CoreV1().Secrets("ns").Update(WithSent(logCtx, data), sec, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 40 {
		t.Fatalf("%d warnings logged, want 40: %q", len(logged), logged)
	}
	for _, l := range logged {
		if !strings.Contains(l, "<secret>") || strings.Contains(l, base64.StdEncoding.EncodeToString([]byte("secret-of-"))[:12]) {
			t.Errorf("a warning not hidden with its own request's data: %s", l)
		}
	}
}
