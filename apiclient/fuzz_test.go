package apiclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeResponses feeds arbitrary answers to every call: the client
// must not panic, must return either a result or one of its own errors,
// must never call a create whose answer it could not read anything but
// ambiguous, and must never quote the body in an error (it may hold a
// secret).
func FuzzDecodeResponses(f *testing.F) {
	f.Add(200, `{"api-keys":[{"key":"EXO0123456789abcdef01234567","name":"ci","role-id":"22222222-2222-2222-2222-222222222222"}]}`)
	f.Add(200, `{"key":"EXO0123456789abcdef01234567","name":"ci","role-id":"22222222-2222-2222-2222-222222222222","secret":"s3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3tx"}`)
	f.Add(200, `{"id":"8d3c5e4c-0000-4000-8000-000000000001","state":"success"}`)
	f.Add(200, `{"iam-roles":[{"id":"22222222-2222-2222-2222-222222222222","name":"ci"}]}`)
	f.Add(403, `{"message":"Invalid request signature"}`)
	f.Add(403, `{"message":"API Key not in organization"}`)
	f.Add(404, `{"message":"not found"}`)
	f.Add(429, `{"message":"slow down"}`)
	f.Add(500, `oops`)
	f.Add(200, `{"secret": "leakyleakyleakyleaky"`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 599 {
			return
		}
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {"1"}},
				Body: ioNopCloser(body), Request: r}, nil
		})
		c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"},
			Transport: rt, MaxRetries: 1, DeleteTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		c.sleep = func(ctx context.Context, d time.Duration) error { return nil }
		ctx := context.Background()
		check := func(op string, err error) {
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: error %T %v is not an *Error", op, err, err)
			}
			if len(body) >= 12 && strings.Contains(err.Error(), body) {
				t.Fatalf("%s: error quotes the body: %v", op, err)
			}
		}
		_, err = c.ListKeys(ctx)
		check(OpListKeys, err)
		_, err = c.GetKey(ctx, "EXO1")
		check(OpGetKey, err)
		_, err = c.ListRoles(ctx)
		check(OpListRoles, err)
		err = c.DeleteKey(ctx, "EXO1")
		check(OpDeleteKey, err)
		k, err := c.CreateKey(ctx, "n", "22222222-2222-2222-2222-222222222222")
		check(OpCreateKey, err)
		if err == nil && (k.ID == "" || k.Secret.IsZero()) {
			t.Fatalf("create succeeded without a key id or secret: %+v", k.Key)
		}
		if status >= 500 && status != 501 && !errors.Is(err, ErrAmbiguousCreate) {
			t.Fatalf("create answered %d: err = %v, want ambiguous", status, err)
		}
		if status == 200 && err != nil && !errors.Is(err, ErrAmbiguousCreate) {
			t.Fatalf("create answered 200 with an unreadable body: err = %v, want ambiguous", err)
		}
	})
}
