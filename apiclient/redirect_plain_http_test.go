package apiclient

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
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
