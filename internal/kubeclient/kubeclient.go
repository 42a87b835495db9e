// Package kubeclient owns how rotatord reaches a Kubernetes API server: the
// in-cluster configuration, or a kubeconfig file and context, turned into
// a client-go clientset with rotatord's user agent and timeouts.
package kubeclient

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/transport"

	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/internal/version"
)

// RequestTimeout bounds one request to the API server.
const RequestTimeout = 30 * time.Second

// The files the in-cluster configuration (rest.InClusterConfig) reads:
// the pod's service account token and the cluster's CA certificate.
const (
	InClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	InClusterCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// Config returns the REST configuration: from the kubeconfig file (and
// context, empty for its current one) when kubeconfig is set, else the
// pod's service account (in-cluster).
func Config(kubeconfig, context string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes configuration: %w (outside a cluster, set kubeconfig)", err)
		}
	} else {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "rotatord/" + version.String()
	cfg.Timeout = RequestTimeout
	// client-go's default client-side limit (5/s) queues requests for
	// seconds: a write checked against the Lease would then leave long
	// after the check.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// Cache shares one clientset per kubeconfig and context, so a hundred
// Secret sinks use one connection pool.
type Cache struct {
	// Gate, when set before the first Client, is asked right before each
	// write leaves, which is cut off at the end of the claim (see
	// internal/fence): a replica that lost the Lease sends no journal or
	// Secret write, however long the request waited in the client. The
	// election's own Lease requests must not go through a gated Cache.
	Gate fence.Func

	mu      sync.Mutex
	clients map[[2]string]cached
}

type cached struct {
	client kubernetes.Interface
	host   string
}

// Client returns the clientset for kubeconfig and context, creating it on
// first use.
func (c *Cache) Client(kubeconfig, context string) (kubernetes.Interface, error) {
	e, err := c.get(kubeconfig, context)
	return e.client, err
}

// Server returns the API server's URL for kubeconfig and context: what
// tells two clusters apart.
func (c *Cache) Server(kubeconfig, context string) (string, error) {
	e, err := c.get(kubeconfig, context)
	return e.host, err
}

func (c *Cache) get(kubeconfig, context string) (cached, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{kubeconfig, context}
	if e, ok := c.clients[k]; ok {
		return e, nil
	}
	cfg, err := Config(kubeconfig, context)
	if err != nil {
		return cached{}, err
	}
	if gate := c.Gate; gate != nil {
		// Writes go on connections of their own, fenced at the socket
		// too, so that a replica paused after the checks (SIGSTOP, a
		// frozen VM) sends nothing once it wakes; reads keep client-go's
		// transport, which a standby needs. Below client-go's
		// authentication, which wraps both.
		fenced, err := writeTransport(cfg, gate)
		if err != nil {
			return cached{}, err
		}
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return fence.Route(rt, fenced, gate, fence.SpareReads)
		}
	}
	cl, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return cached{}, fmt.Errorf("kubernetes client: %w", err)
	}
	if c.clients == nil {
		c.clients = map[[2]string]cached{}
	}
	e := cached{client: cl, host: cfg.Host}
	c.clients[k] = e
	return e, nil
}

// writeTransport is a transport for the writes of a gated client, built
// by client-go from cfg as its own is (the CA and client certificate
// files it reloads, an exec plugin's certificates and connection
// tracking, the proxy), but without authentication, impersonation or user
// agent (applied around the route, to reads and writes alike), over
// HTTP/1.1, each connection a fence.Conn.
func writeTransport(cfg *rest.Config, gate fence.Func) (http.RoundTripper, error) {
	tc, err := cfg.TransportConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	tc.Username, tc.Password, tc.BearerToken, tc.BearerTokenFile = "", "", "", ""
	tc.Impersonate = transport.ImpersonationConfig{}
	tc.WrapTransport = nil // an exec plugin's or auth provider's credentials
	tc.UserAgent = ""
	tc.TLS.NextProtos = []string{"http/1.1"}
	dial := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	if tc.DialHolder != nil {
		dial = tc.DialHolder.Dial
	}
	tc.DialHolder = &transport.DialHolder{Dial: fence.ConnDial(dial, gate)}
	rt, err := transport.New(tc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return rt, nil
}
