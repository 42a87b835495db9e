package exosim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v3 "github.com/exoscale/egoscale/v3"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

// start runs a simulator with the default seed and returns it with an SDK
// client authenticated as its admin.
func start(t *testing.T, opts ...exosim.Option) (*exosim.Server, *v3.Client) {
	t.Helper()
	srv := exosimtest.NewServer(t, exosim.DefaultSeed(), opts...)
	return srv, exosimtest.Client(t, srv, srv.Admin())
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// response is a raw HTTP answer, its JSON body decoded.
type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (r response) message() string {
	m, _ := r.body["message"].(string)
	return m
}

// send performs one request by hand; prepare (optional) signs or tampers
// with it first.
func send(t *testing.T, srv *exosim.Server, method, path, body string, prepare func(*http.Request)) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx(t), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if prepare != nil {
		prepare(req)
	}
	resp, err := exosimtest.HTTPClient(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if err := json.Unmarshal(data, &out.body); err != nil {
		// Control endpoints may answer lists; keep them under "list".
		var list []any
		if err2 := json.Unmarshal(data, &list); err2 != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, data, err)
		}
		out.body = map[string]any{"list": list}
	}
	return out
}

// signedBy signs a request as cred, expiring in ten minutes like the SDK.
func signedBy(t *testing.T, cred exosim.Credential) func(*http.Request) {
	return signedUntil(t, cred, time.Now().Add(10*time.Minute))
}

func signedUntil(t *testing.T, cred exosim.Credential, expires time.Time) func(*http.Request) {
	return func(req *http.Request) {
		if err := exosim.SignRequest(req, cred, expires); err != nil {
			t.Fatal(err)
		}
	}
}

// findKey returns the record of key among srv.Keys().
func findKey(t *testing.T, srv *exosim.Server, key string) exosim.KeyRecord {
	t.Helper()
	for _, k := range srv.Keys() {
		if k.Key == key {
			return k
		}
	}
	t.Fatalf("key %s not in Keys()", key)
	return exosim.KeyRecord{}
}

// waitFor polls cond until it holds or 5 s pass: for effects the server
// records after the client already returned.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
