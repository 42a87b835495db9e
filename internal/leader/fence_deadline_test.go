package leader

// Fourth review of the issue 15 fixes: the deadline internal/fence gives a
// fenced request is the end of the claim *at send time*. Renewals extend
// the claim, but never the deadline of a request already in flight. So a
// healthy leader, renewing every retry period, has each request cut off
// after at most renew_deadline (10 s by default, as little as the margin,
// 2 s, when its renewals are slow), whatever exoscale.timeout (30 s by
// default) or the Vault sink's 30 s request timeout say. An Exoscale
// create that takes longer is reported as an ambiguous create (the key may
// exist, its secret is lost) by a replica that never stopped leading.

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/secret"
)

func TestHealthyLeaderSlowCreateCutOffAtSendTimeClaim(t *testing.T) {
	c := kubetest.Start(t)
	admin := c.Client(t, kubetest.Admin)
	const ns = "review15d-deadline"
	c.CreateNamespace(t, ns)

	// The defaults of config/ha.go.
	e := New(Config{
		Client: admin, Namespace: ns, LeaseName: "rotatord", Identity: "replica-a",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Logger: zaptestLogger(t, "replica-a"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx, func(lead context.Context) { <-lead.Done() }) }()
	t.Cleanup(func() { cancel(); <-done })
	waitCond(t, "A leads", 30*time.Second, func() bool { return e.Check() == nil })

	srv := exosimtest.NewServer(t, exosim.DefaultSeed(), exosim.WithRand(1))
	// A slow create: 11 s, well within exoscale.timeout (30 s by default).
	srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{Latency: 11 * time.Second})
	cred := srv.Admin()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	api, err := apiclient.New(apiclient.Config{
		Endpoint:    srv.Endpoint,
		Credentials: apiclient.Credentials{Key: cred.Key, Secret: secret.Value(cred.Secret)},
		Timeout:     30 * time.Second,
		MaxRetries:  -1,
		RateLimit:   1000, Burst: 1000,
		Transport: tr,
		Gate:      e.Claim, // as daemon/ha.go claimFunc wires it
	})
	if err != nil {
		t.Fatal(err)
	}

	renewedBefore := e.validUntilForTest()
	start := time.Now()
	_, err = api.CreateKey(context.Background(), "review15d-slow", exosim.CIRoleID)
	took := time.Since(start)
	renewedAfter := e.validUntilForTest()
	stillLeads := e.Check()
	if err != nil {
		var ae *apiclient.Error
		kind := apiclient.Kind("")
		if errors.As(err, &ae) {
			kind = ae.Kind
		}
		t.Errorf("a healthy leader (renewed meanwhile: claim end moved %s; Check after = %v) had an 11 s create cut off after %s, well within exoscale.timeout 30 s: %v (kind %q); the key exists on the API: %d keys named review15d-slow",
			renewedAfter.Sub(renewedBefore).Round(time.Millisecond), stillLeads, took.Round(time.Millisecond), err, kind, countKeys(srv, "review15d-slow"))
	}
}

func countKeys(srv *exosim.Server, name string) int {
	n := 0
	for _, k := range srv.Keys() {
		if k.Name == name {
			n++
		}
	}
	return n
}
