package apiclient

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// An error answer whose body is JSON but not an object (a bare string, an
// array: what a stand-in of the API may send with its 404) is one the SDK
// cannot unmarshal, and reports as a plain error, not an API error. Its
// status still says what happened: a 404 is "not found" (a delete of a
// key already gone is done, and a name whose old key went before its
// deletion's answer came back is not stuck retrying it for good), a 403
// is an authentication failure, and neither is retried like a network
// failure.
func TestErrorStatusCountsWhateverItsJSONBody(t *testing.T) {
	answer := func(status int, body string, calls *int) *Client {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			*calls++
			return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
				Body: ioNopCloser(body), Request: r}, nil
		})
		c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt,
			MaxRetries: 2, RetryBaseDelay: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, body := range []string{`"Not Found"`, `[]`, `["no such key"]`, `42`} {
		var n int
		if _, err := answer(404, body, &n).GetKey(context.Background(), "EXO2"); !errors.Is(err, ErrNotFound) || n != 1 {
			t.Errorf("get answered 404 %s: %v after %d calls, want not found after 1", body, err, n)
		}
		n = 0
		if err := answer(404, body, &n).DeleteKey(context.Background(), "EXO2"); err != nil || n != 1 {
			t.Errorf("delete answered 404 %s: %v after %d calls, want done after 1", body, err, n)
		}
		n = 0
		if _, err := answer(403, body, &n).ListKeys(context.Background()); !errors.Is(err, ErrAuth) || n != 1 {
			t.Errorf("list answered 403 %s: %v after %d calls, want an authentication error after 1", body, err, n)
		}
		n = 0
		if _, err := answer(503, body, &n).CreateKey(context.Background(), "ci-x", "22222222-2222-2222-2222-222222222222"); !errors.Is(err, ErrAmbiguousCreate) || n != 1 {
			t.Errorf("create answered 503 %s: %v after %d calls, want ambiguous after 1", body, err, n)
		}
	}
}
