package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// "API Key not in organization" means the key is gone whatever 4xx carries
// it: measured as a 403, documented as "a 4xx". A delete answered so is
// done; any other 403 is still an authentication failure.
func TestKeyNotInOrganizationIsGoneOnAny4xx(t *testing.T) {
	answer := func(status int, msg string) *Client {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
				Body: ioNopCloser(fmt.Sprintf(`{"message":%q}`, msg)), Request: r}, nil
		})
		c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt, MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, status := range []int{400, 403, 404, 409, 422} {
		if err := answer(status, "API Key not in organization").DeleteKey(context.Background(), "EXO2"); err != nil {
			t.Errorf("delete answered %d not in organization: %v, want done", status, err)
		}
		if _, err := answer(status, "API Key not in organization").GetKey(context.Background(), "EXO2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get answered %d not in organization: %v, want not found", status, err)
		}
	}
	if err := answer(403, "Invalid request signature").DeleteKey(context.Background(), "EXO2"); !errors.Is(err, ErrAuth) {
		t.Errorf("delete answered 403 bad signature: %v, want an authentication error", err)
	}
}
