package kubeclient

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// nonLoopbackIPv4 is an address of this host that is not loopback, or ""
// when it has none.
func nonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// TestGatedWriteRedirectToPlainHTTPIsNotFollowed: a gated client's writes
// go on a transport of their own (writeTransport, without the
// configuration's WrapTransport); a write the server answers with a 307
// to plain http on a host that is not loopback (this host's own address
// on the network, where a plain server listens) must still not be sent
// there: the Secret carries the new API secret.
func TestGatedWriteRedirectToPlainHTTPIsNotFollowed(t *testing.T) {
	ip := nonLoopbackIPv4()
	if ip == "" {
		t.Skip("no address that is not loopback")
	}
	var reached atomic.Int32
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skip(err)
	}
	plain := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`))
	})}}
	plain.Start()
	defer plain.Close()
	srv, _ := recordingServer(t)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	path := kubeconfigFor(t, srv, &clientcmdapi.AuthInfo{Token: "tok"})
	cl, err := (&Cache{Gate: leads}).Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.CoreV1().Secrets("ns").Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		Data: map[string][]byte{"api_secret": []byte("new-secret")}}, metav1.CreateOptions{})
	if n := reached.Load(); n > 0 {
		t.Fatalf("a gated write followed a redirect to plain http on %s (%d requests there; %v), want it refused", plain.URL, n, err)
	}
	if err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("a gated write answered by a redirect to plain http on the network: %v, want an error saying plain http was refused", err)
	}
}
