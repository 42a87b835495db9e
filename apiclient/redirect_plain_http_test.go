package apiclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// An endpoint (a loopback proxy, a stand-in, https) that answers with a
// redirect to plain http on a host that is not loopback must not lead the
// client there: the create's answer, the new key's secret, would come back
// in clear, from whoever is on the network path (who could as well answer
// with a key of their own, which rotatord would deliver). The endpoint
// itself is refused for that (config.CheckTransport); a redirect to it is
// refused the same way, unless insecure_http says so.
func TestRedirectToPlainHTTPOnTheNetworkIsRefused(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		var mu sync.Mutex
		var hosts []string
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			hosts = append(hosts, r.URL.Host)
			mu.Unlock()
			if r.Body != nil {
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
			if r.URL.Hostname() == "127.0.0.1" {
				return &http.Response{StatusCode: http.StatusTemporaryRedirect,
					Header: http.Header{"Location": {"http://203.0.113.7:8080" + r.URL.Path}},
					Body:   io.NopCloser(strings.NewReader("")), Request: r}, nil
			}
			// Whoever answers in clear: a key of its own.
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(`{"api-keys":[]}`)), Request: r}, nil
		})
		c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"},
			Transport: rt, MaxRetries: -1, InsecureHTTP: insecure})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListKeys(context.Background())
		mu.Lock()
		reached := strings.Contains(strings.Join(hosts, " "), "203.0.113.7")
		mu.Unlock()
		switch {
		case !insecure && reached:
			t.Errorf("the client followed a redirect to plain http on 203.0.113.7 (requests to %v), want it refused", hosts)
		case !insecure && (err == nil || !strings.Contains(err.Error(), "plain http")):
			t.Errorf("ListKeys answered by a redirect to plain http: %v, want an error that says plain http was refused", err)
		case insecure && !reached:
			t.Errorf("insecure_http: the redirect was not followed (requests to %v, %v), want it followed as the endpoint would be", hosts, err)
		}
	}
}

// TestRefusedRedirectIsNotRetried: the refusal of a redirect to plain http
// is this client's own policy, the same at every attempt: it is not a
// transport failure. Taken for one ("unavailable", "connection failed"),
// every request was sent again MaxRetries times, waiting out the backoff
// (1+2+4+8 s) between them, to be refused each time, and the error sent
// the operator looking for a network problem. A create the endpoint
// answered with a redirect was not made there either: it is refused, not
// ambiguous.
func TestRefusedRedirectIsNotRetried(t *testing.T) {
	var mu sync.Mutex
	sent := 0
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		sent++
		mu.Unlock()
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return &http.Response{StatusCode: http.StatusTemporaryRedirect,
			Header: http.Header{"Location": {"http://203.0.113.7:8080" + r.URL.Path}},
			Body:   io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(context.Context, time.Duration) error { return nil }
	for _, call := range []struct {
		op string
		do func() error
	}{
		{OpListKeys, func() error { _, err := c.ListKeys(context.Background()); return err }},
		{OpCreateKey, func() error { _, err := c.CreateKey(context.Background(), "x", "r"); return err }},
	} {
		mu.Lock()
		sent = 0
		mu.Unlock()
		err := call.do()
		mu.Lock()
		n := sent
		mu.Unlock()
		var e *Error
		switch {
		case !errors.As(err, &e):
			t.Errorf("%s: %v, want an *Error", call.op, err)
		case n != 1:
			t.Errorf("%s: sent %d times, want once: a refused redirect is refused again at each attempt (%v)", call.op, n, err)
		case e.Kind != KindOther:
			t.Errorf("%s: kind %s, want %s: the client refused where the endpoint sent it, nothing failed on the way and nothing was made (%v)", call.op, e.Kind, KindOther, err)
		case strings.Contains(err.Error(), "connection failed") || !strings.Contains(err.Error(), "plain http"):
			t.Errorf("%s: %v, want the refusal said as such, not as a connection failure", call.op, err)
		}
	}
}
