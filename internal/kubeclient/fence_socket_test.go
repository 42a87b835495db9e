package kubeclient

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	srv, seenBy := recordingServer(t)
	path := kubeconfigFor(t, srv, &clientcmdapi.AuthInfo{Token: "t"})
	cl, err := (&Cache{Gate: leads}).Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		writeThenRead(t, cl)
	}
	var got []string
	for _, s := range seenBy() {
		got = append(got, s.method+" "+s.proto)
	}
	want := []string{"POST HTTP/1.1", "GET HTTP/2.0", "POST HTTP/1.1", "GET HTTP/2.0"}
	if !slices.Equal(got, want) {
		t.Errorf("server saw %q, want %q", got, want)
	}
}
