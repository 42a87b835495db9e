package kubeclient

// Third review of the issue 15 fixes: the gated transport asks the Lease
// before the connection is made, not when the request leaves.

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/internal/leader"
)

// slowDialProxy forwards TCP to the API server; once slow is set, it
// closes every connection open and holds each new one for delay before
// forwarding it (a partition healing, SYN retransmits, a slow load
// balancer: the dial takes long).
type slowDialProxy struct {
	ln       net.Listener
	upstream string
	delay    time.Duration

	mu    sync.Mutex
	slow  bool
	conns []net.Conn
}

func (p *slowDialProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		slow := p.slow
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		go func() {
			if slow {
				time.Sleep(p.delay)
			}
			u, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			_, _ = io.Copy(c, u)
			c.Close()
		}()
	}
}

func (p *slowDialProxy) goSlow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slow = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *slowDialProxy) close() {
	p.ln.Close()
	p.goSlow()
}

// The leader's journal write passes the gate while its claim is good,
// then waits for its connection (the old one broke): the gate is never
// asked again, and the write reaches the API server seconds later, after
// the Lease expired and another replica took it and acts. "However long
// the request waited in the client" does not hold for the dial and TLS
// handshake, which come after the gate (they take up to client-go's 30 s
// dial and 10 s handshake timeouts).
func TestWriteLandsAfterAnotherReplicaLeads(t *testing.T) {
	c := kubetest.Start(t)
	admin := c.Client(t, kubetest.Admin)
	const ns = "review15c-dial"
	c.CreateNamespace(t, ns)

	u, err := url.Parse(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &slowDialProxy{ln: ln, upstream: u.Host, delay: 7 * time.Second}
	go proxy.serve()
	t.Cleanup(proxy.close)

	// Replica A reaches the API server through the proxy, with the
	// production client: kubeclient.Cache gated by A's elector (as
	// daemon.newWithConfig wires it), the Lease on the same clientset.
	path := filepath.Join(t.TempDir(), "a.kubeconfig")
	if err := c.WriteKubeconfig(path, kubetest.Admin); err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range kc.Clusters {
		cl.Server = "https://" + ln.Addr().String()
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(path, 0o600)
	var a *leader.Elector
	cache := &Cache{Gate: func() (time.Time, error) { return a.Claim() }}
	aClient, err := cache.Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	// The Lease on its own ungated clientset, through the same proxy (as
	// daemon.newElector wires it).
	aLease, err := (&Cache{}).Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	timing := func(id string) leader.Config {
		return leader.Config{
			Namespace: ns, LeaseName: "rotatord", Identity: id,
			LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond,
			Logger: zaptest.NewLogger(t).Named(id),
		}
	}
	ca := timing("replica-a")
	ca.Client = aLease
	a = leader.New(ca)
	cb := timing("replica-b")
	cb.Client = admin
	b := leader.New(cb)
	run := func(e *leader.Elector) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = e.Run(ctx, func(lead context.Context) { <-lead.Done() }) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	run(a)
	wait := func(what string, cond func() bool) {
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("A leads", func() bool { return a.Check() == nil })
	run(b)
	wait("B sees A", func() bool { return b.Leader() == "replica-a" })

	proxy.goSlow()
	time.Sleep(200 * time.Millisecond) // A's client notices its connection closed
	if err := a.Check(); err != nil {
		t.Fatalf("A's claim should still be good 200ms after its last renewal: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sent := time.Now()
	written := make(chan error, 1)
	go func() {
		_, err := aClient.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "written-by-a"},
			Data:       map[string]string{"by": "replica-a"},
		}, metav1.CreateOptions{})
		written <- err
	}()

	var bLeads time.Time
	var existedWhenBLed bool
	for bLeads.IsZero() && time.Since(sent) < 20*time.Second {
		if b.Check() == nil {
			bLeads = time.Now()
			_, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, "written-by-a", metav1.GetOptions{})
			existedWhenBLed = err == nil
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if bLeads.IsZero() {
		t.Fatal("B never led")
	}
	t.Logf("A's write passed the gate at +0; A's Check refused from about +%v; B leads (Check passes) from +%v", "3s", bLeads.Sub(sent).Round(time.Millisecond))
	err = <-written
	landed := time.Since(sent)
	if err != nil {
		t.Skipf("A's write failed (%v): this run shows nothing", err)
	}
	if existedWhenBLed {
		t.Skip("A's write landed before B led: this run shows nothing")
	}
	t.Errorf("replica A's ConfigMap write passed A's gate while A held the Lease, waited %v for a connection, and landed %v after replica B had taken the Lease and was acting: the gate is asked before the dial, not when the request leaves",
		landed.Round(time.Millisecond), (landed - bLeads.Sub(sent)).Round(time.Millisecond))
}
