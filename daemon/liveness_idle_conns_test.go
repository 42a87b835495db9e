package daemon

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// TestIdleConnectionsStarveLivenessProbe: issue 11 asked for a
// connection limit so that idle keep-alive connections cannot exhaust
// memory. The limit (netutil.LimitListener, DefaultMaxConnections = 64) is
// shared by everyone, including the kubelet's liveness probe, and a
// connection is only dropped after ReadHeaderTimeout (10 s, nothing sent)
// or IdleTimeout (60 s, after one request).
//
// Attack: any client that reaches the port (in the shipped Kubernetes
// deployment `listen: ":9108"`, i.e. every pod of the cluster; no NetworkPolicy
// is shipped) opens 64 TCP connections and sends nothing (or one request
// each and then idles), reconnecting as the server drops them. Costs the
// attacker 64 sockets. From then on every new connection, the kubelet's
// included, waits in the accept queue: GET /healthz gets no answer within the
// probe's timeoutSeconds: 5, three failures in a row (60 s) and the kubelet
// kills rotatord, again and again (a restart loop that interrupts
// rotations). Basic auth / TLS from --web.config.file do not help: the slot
// is taken before any authentication.
//
// The memory DoS became an availability DoS. Expected: a probe still gets
// its answer while unauthenticated idle clients hold connections (e.g. a
// per-source limit, a much larger limit with small per-connection state, a
// short timeout for connections that have not sent a request, or dropping
// the oldest idle connection when the limit is reached).
func TestIdleConnectionsStarveLivenessProbe(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{}) // the defaults rotatord runs with

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < DefaultMaxConnections; i++ {
		c, err := net.Dial("tcp", e.listen)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c) // sends nothing
	}
	time.Sleep(200 * time.Millisecond) // let the server accept them

	// The kubelet's liveness probe: timeoutSeconds: 5.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Get("http://" + e.listen + "/healthz")
	if err != nil {
		t.Fatalf("liveness probe failed after %v while %d idle, unauthenticated connections are open: %v",
			time.Since(start).Round(time.Millisecond), DefaultMaxConnections, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("liveness probe: status %d", resp.StatusCode)
	}
}
