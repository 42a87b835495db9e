package kubernetes_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// TestSecretHoldingRotatordsOwnKeyIsNeverWritten: the Secret a kubelet
// mounts as rotatord's own credential (deploy/kubernetes-secret-credential's
// rotatord-exoscale, read through api_key_file) is known to the sink by no
// name: a policy's sink with take_over whose template renders that name, in
// that namespace, through any kubeconfig, context or server URL, replaced
// the key rotatord signs with. A Secret whose data holds a key id rotatord
// signs with is refused, take_over or not, at Probe and by Write (nothing
// sent), and keeps its data; a Secret holding another key is written.
func TestSecretHoldingRotatordsOwnKeyIsNeverWritten(t *testing.T) {
	c := kubetest.Start(t)
	const own = "EXO0123456789abcdef0123456"
	for _, tt := range []struct {
		give string
		data map[string][]byte
	}{
		{"two data keys", map[string][]byte{"api_key": []byte(own + "\n"), "api_secret": []byte("theirs")}},
		{"one document", map[string][]byte{"exoscale.toml": []byte("[accounts]\nkey = \"" + own + "\"\nsecret = \"theirs\"\n")}},
	} {
		t.Run(tt.give, func(t *testing.T) {
			w := newWorld(t, c)
			ctx := ctxT(t)
			w.createSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "exo-rotatord"}, Data: tt.data})
			s, rec := w.sink(fullRules, func(o *ksink.Options) {
				o.TakeOver = true
				o.OwnKeys = func() []string { return []string{"EXOffffffffffffffffffffffff", own} }
			})
			var err error
			for i := 0; i < 50; i++ { // RBAC applies through an informer
				if err = w.note(s.Probe(ctx, "rotatord")); err == nil || !strings.Contains(err.Error(), "RBAC") {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !errors.Is(err, ksink.ErrProtected) {
				t.Errorf("probe: %v, want %v", err, ksink.ErrProtected)
			}
			rec.reset()
			err = w.note(s.Write(ctx, w.cred("rotatord")))
			if !errors.Is(err, ksink.ErrProtected) || !sinks.IsNothingSent(err) {
				t.Errorf("write: %v, want %v with nothing sent", err, ksink.ErrProtected)
			}
			if got := rec.writes(); len(got) != 0 {
				t.Errorf("writes sent: %v", got)
			}
			for k, v := range tt.data {
				if got := w.get("exo-rotatord").Data[k]; string(got) != string(v) {
					t.Errorf("data %s changed (%d bytes, want %d)", k, len(got), len(v))
				}
			}
			// Another key's Secret is taken over as before.
			w.createSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "exo-other"},
				Data: map[string][]byte{"api_key": []byte("EXO000000000000000000000077"), "api_secret": []byte("x")}})
			w.mustWrite(s, w.cred("other"))
		})
	}
}
