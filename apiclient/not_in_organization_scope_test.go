package apiclient

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// "API Key not in organization" is about the key a request names (GET or
// DELETE /api-key/{id}). An answer of a request that names no key (list
// the keys or the roles, create, ask an operation) can only mean the
// credential: taken for "not found", a roles listing answered so read as
// "roles not served" to the organization check, which then went on with
// a credential it could not place, and adopted that organization's keys.
// And an answer that says something else besides (an invalid signature
// under "message", the words under "detail") is an authentication
// failure: taken for "key gone", a delete refused was recorded as done,
// and the key lived on.
func TestKeyNotInOrganizationOnlyForTheKeyNamed(t *testing.T) {
	answer := func(status int, body string) *Client {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
				Body: ioNopCloser(body), Request: r}, nil
		})
		c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	for _, body := range []string{
		`{"message":"API Key not in organization"}`,
		`{"title":"Forbidden","detail":"API Key not in organization"}`,
	} {
		if _, err := answer(403, body).ListRoles(ctx); !errors.Is(err, ErrAuth) {
			t.Errorf("list roles answered 403 %s: %v, want an authentication error", body, err)
		}
		if _, err := answer(403, body).ListKeys(ctx); !errors.Is(err, ErrAuth) {
			t.Errorf("list keys answered 403 %s: %v, want an authentication error", body, err)
		}
		if _, err := answer(403, body).CreateKey(ctx, "n", "2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a"); !errors.Is(err, ErrAuth) {
			t.Errorf("create answered 403 %s: %v, want an authentication error", body, err)
		}
	}
	for _, body := range []string{
		`{"message":"Invalid request signature","detail":"API Key not in organization"}`,
		`{"title":"API Key not in organization","detail":"Invalid request signature"}`,
		`{"errors":[{"detail":"Invalid request signature"},{"detail":"API Key not in organization"}]}`,
	} {
		if err := answer(403, body).DeleteKey(ctx, "EXO2"); !errors.Is(err, ErrAuth) {
			t.Errorf("delete answered 403 %s: %v, want an authentication error", body, err)
		}
		if _, err := answer(403, body).GetKey(ctx, "EXO2"); !errors.Is(err, ErrAuth) {
			t.Errorf("get answered 403 %s: %v, want an authentication error", body, err)
		}
	}
	// A body that is not JSON is not the API's error answer (the SDK
	// makes the raw text its message): it is never quoted, and says
	// nothing of the key either.
	if err := answer(403, `API Key not in organization`).DeleteKey(ctx, "EXO2"); !errors.Is(err, ErrAuth) {
		t.Errorf("delete answered 403 with the words as plain text: %v, want an authentication error", err)
	}
	// The words with the status's own (a title "Forbidden") still say
	// the key is gone.
	for _, body := range []string{
		`{"message":"Forbidden","detail":"API Key not in organization"}`,
		`{"title":"Forbidden","errors":["API Key not in organization"]}`,
	} {
		if err := answer(403, body).DeleteKey(ctx, "EXO2"); err != nil {
			t.Errorf("delete answered 403 %s: %v, want done", body, err)
		}
	}
}
