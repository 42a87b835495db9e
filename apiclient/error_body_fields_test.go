package apiclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// Error bodies are JSON with a "message" field, and the SDK reads
// "error", "title", "detail" and "errors" too: an API (or a stand-in of
// it) may say "API Key not in organization" in any of them. The 403 for
// a key already gone was read as an authentication failure when the
// words were not under "message": a delete of a gone key failed at every
// pass, and its error said nothing of why.
func TestErrorBodyFieldsBesidesMessage(t *testing.T) {
	answer := func(status int, body string) *Client {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/problem+json"}},
				Body: ioNopCloser(body), Request: r}, nil
		})
		c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	gone := []string{
		`{"error":"API Key not in organization"}`,
		`{"title":"Forbidden","detail":"API Key not in organization"}`,
		`{"title":"API Key not in organization"}`,
		`{"errors":["API Key not in organization"]}`,
		`{"title":"Forbidden","errors":[{"detail":"API Key not in organization","location":"$['id']"}]}`,
	}
	for _, body := range gone {
		if err := answer(403, body).DeleteKey(context.Background(), "EXO2"); err != nil {
			t.Errorf("delete answered 403 %s: %v, want done", body, err)
		}
		if _, err := answer(403, body).GetKey(context.Background(), "EXO2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get answered 403 %s: %v, want not found", body, err)
		}
	}
	// Any other 403 is an authentication failure, and says why.
	err := answer(403, `{"title":"Forbidden","detail":"Invalid request signature"}`).DeleteKey(context.Background(), "EXO2")
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "Invalid request signature") {
		t.Errorf("delete answered 403 with a detail: %v, want an authentication error saying why", err)
	}
}
