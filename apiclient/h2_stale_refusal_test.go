package apiclient

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/secret"
)

// Over h2 (what the default transport negotiates with the real https API):
// a refused control write (RST_STREAM of a cancelled read) during a gate
// blip leaves the h2 conn in the pool with a sticky write error; the next
// create, with the gate healthy again, fails.
func TestH2StaleRefusalFailsHealthyCreate(t *testing.T) {
	sim := exosimtest.NewServer(t, exosim.DefaultSeed(), exosim.WithRand(1))
	admin := sim.Admin()
	u, _ := url.Parse(sim.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	px := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == u.Path+"/api-key" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"api-keys":[`))
			for i := 0; i < 40000; i++ {
				if i > 0 {
					w.Write([]byte(","))
				}
				w.Write([]byte(`{"key":"EXO0000000000000000000000000","name":"padding-padding-padding-padding-padding-padding-padding-padding-padding-padding-padding","role-id":"00000000-0000-0000-0000-000000000000"}`))
			}
			w.Write([]byte(`]}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	px.EnableHTTP2 = true
	px.StartTLS()
	defer px.Close()
	cf := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: px.Certificate().Raw}), 0o600)
	t.Setenv("SSL_CERT_FILE", cf)

	var blip atomic.Bool
	gate := func() (time.Time, error) {
		if blip.Load() {
			return time.Time{}, errors.New("blip: last renewal too old")
		}
		return time.Now().Add(time.Minute), nil
	}
	var protos atomic.Value
	c, err := New(Config{
		Endpoint:    px.URL + u.Path,
		Credentials: Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
		Timeout:     5 * time.Second, MaxRetries: -1,
		Gate:    gate,
		Observe: func(op, code string, _ time.Duration) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateKey(context.Background(), "warm", exosim.CIRoleID); err != nil {
		t.Fatalf("warm-up create: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { protos.Store(i.Reused) },
		WroteRequest: func(httptrace.WroteRequestInfo) {
			blip.Store(true)
			time.AfterFunc(300*time.Millisecond, func() { blip.Store(false) })
		},
	})
	defer cancel()
	type res struct {
		err error
		n   int
	}
	mid := make(chan res, 1)
	time.AfterFunc(time.Second, func() { // blip long over, list still stalled
		b := len(sim.Keys())
		_, err := c.CreateKey(context.Background(), "during-stall", exosim.CIRoleID)
		mid <- res{err, len(sim.Keys()) - b}
	})
	t0 := time.Now()
	_, lerr := c.ListKeys(ctx)
	t.Logf("list took %s, first conn reused=%v", time.Since(t0), protos.Load())
	t.Logf("list cancelled during blip: %v", lerr)
	m := <-mid
	t.Logf("create 1s after the blip ended (gate healthy), while the list stalls: %v; keys it created: %d", m.err, m.n)
	if m.err != nil {
		t.Errorf("healthy create failed on the poisoned h2 conn: %v", m.err)
	}
	blip.Store(false)
	before := len(sim.Keys())
	_, err = c.CreateKey(context.Background(), "after-blip", exosim.CIRoleID)
	t.Logf("create with healthy gate: %v; keys created by it: %d", err, len(sim.Keys())-before)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			t.Logf("kind %v", e.Kind)
		}
		t.Errorf("a healthy leader's create failed after a refused control write: %v", err)
	}
}
