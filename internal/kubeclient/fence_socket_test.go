package kubeclient

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/rotatord/rotatord/internal/kubetest"
)

var errFenceSocketDeposed = errors.New("this replica does not hold the Lease")

// A replica paused right after the last check before a write (SIGSTOP, a
// frozen VM) and woken once another replica leads must not send it: a
// Secret sink's update carries the resourceVersion it read a moment
// before, which nothing else may have changed (the new leader rolled the
// key back without touching the Secret), and would put the secret of a
// deleted key where consumers read it. The write's connection asks the
// gate again; reads go on meanwhile.
func TestGatedWriteFencedAtTheSocket(t *testing.T) {
	c := kubetest.Start(t)
	admin := c.Client(t, kubetest.Admin)
	const ns = "fence-socket"
	c.CreateNamespace(t, ns)

	// 0: leads; 1: armed, the next question (a write's check) is answered
	// yes and every later one no; 2: deposed.
	var state atomic.Int32
	cache := &Cache{Gate: func() (time.Time, error) {
		if !state.CompareAndSwap(1, 2) && state.Load() == 2 {
			return time.Time{}, errFenceSocketDeposed
		}
		return time.Now().Add(time.Minute), nil
	}}
	cl, err := cache.Client(c.Kubeconfig(t, kubetest.Admin), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	secrets := cl.CoreV1().Secrets(ns)
	sec, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "paused"},
		Data:       map[string][]byte{"key": []byte("old")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a create while leading: %v", err)
	}

	state.Store(1)
	up := sec.DeepCopy()
	up.Data["key"] = []byte("rolled-back")
	if _, err := secrets.Update(ctx, up, metav1.UpdateOptions{}); err == nil {
		t.Fatal("the update succeeded after the Lease was lost")
	}
	got, err := admin.CoreV1().Secrets(ns).Get(ctx, "paused", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data["key"]) != "old" || got.ResourceVersion != sec.ResourceVersion {
		t.Fatalf("the Secret holds %q at resourceVersion %s after an update refused at the socket; want %q at %s",
			got.Data["key"], got.ResourceVersion, "old", sec.ResourceVersion)
	}
	// A deposed replica still reads.
	if _, err := secrets.Get(ctx, "paused", metav1.GetOptions{}); err != nil {
		t.Fatalf("a read while deposed: %v", err)
	}

	// Leading again: the update goes.
	state.Store(0)
	if _, err := secrets.Update(ctx, up, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("an update with the Lease held again: %v", err)
	}
	got, err = admin.CoreV1().Secrets(ns).Get(ctx, "paused", metav1.GetOptions{})
	if err != nil || string(got.Data["key"]) != "rolled-back" {
		t.Fatalf("the Secret holds %q (%v), want the update", got.Data["key"], err)
	}
}

// The writes of a gated client go over HTTP/1.1 (a refused control frame
// would break every request of an HTTP/2 connection); its reads keep
// client-go's transport, HTTP/2 here.
func TestGatedWritesSpeakHTTP1(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.Proto)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: ca}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	cache := &Cache{Gate: func() (time.Time, error) { return time.Now().Add(time.Minute), nil }}
	cl, err := cache.Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for range 2 {
		if _, err := cl.CoreV1().Secrets("ns").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.CoreV1().Secrets("ns").Get(ctx, "x", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"POST HTTP/1.1", "GET HTTP/2.0", "POST HTTP/1.1", "GET HTTP/2.0"}
	if !slices.Equal(got, want) {
		t.Errorf("server saw %q, want %q", got, want)
	}
}
