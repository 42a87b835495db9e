// Package exosimtest starts the Exoscale IAM simulator for a test and hands
// back the official SDK client pointed at it.
package exosimtest

import (
	"net/http"
	"testing"
	"time"

	v3 "github.com/exoscale/egoscale/v3"
	"github.com/exoscale/egoscale/v3/credentials"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// NewServer starts a simulator on a free loopback port and closes it when
// the test ends.
func NewServer(tb testing.TB, seed exosim.Seed, opts ...exosim.Option) *exosim.Server {
	tb.Helper()
	srv, err := exosim.Start(seed, "127.0.0.1:0", opts...)
	if err != nil {
		tb.Fatalf("start exosim: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("close exosim: %v", err)
		}
	})
	return srv
}

// AdminOf returns the seeded admin credential of the organization org of
// srv (srv.Admin() is the default organization's), failing the test when
// the seed has no such organization.
func AdminOf(tb testing.TB, srv *exosim.Server, org string) exosim.Credential {
	tb.Helper()
	cred, err := srv.AdminOf(org)
	if err != nil {
		tb.Fatalf("exosim admin: %v", err)
	}
	return cred
}

// HTTPClient returns a client without retries (unlike the SDK's default), a
// 5 s timeout and its own transport, whose idle connections close when the
// test ends so that leak checks stay quiet.
func HTTPClient(tb testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// Client returns the official SDK client for srv, signing as cred.
func Client(tb testing.TB, srv *exosim.Server, cred exosim.Credential) *v3.Client {
	tb.Helper()
	return ClientAt(tb, srv.Endpoint, cred)
}

// ClientAt returns the official SDK client for a simulator (or anything
// else) at endpoint, the URL ending in /v2, signing as cred.
func ClientAt(tb testing.TB, endpoint string, cred exosim.Credential) *v3.Client {
	tb.Helper()
	c, err := v3.NewClient(
		credentials.NewStaticCredentials(cred.Key, cred.Secret),
		v3.ClientOptWithEndpoint(v3.Endpoint(endpoint)),
		v3.ClientOptWithHTTPClient(HTTPClient(tb)),
	)
	if err != nil {
		tb.Fatalf("new SDK client: %v", err)
	}
	return c
}
