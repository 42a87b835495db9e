package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every field of the operation schema is optional: a server may answer a
// delete with an operation that leaves its state out (its id only, or
// nothing), or with no body at all. The SDK's own Wait takes an operation
// that is not pending as done; the client took it as an invalid answer,
// and a deletion the API had made failed that pass (once exited 1, the
// daemon retried after its backoff, the old key counted as alive). Such
// an answer says nothing either way: the key's GET does. Gone is done;
// still there is waited for, like a pending operation, and the operation,
// when it has an id, is asked for its state.
func TestDeleteAnsweredWithoutState(t *testing.T) {
	const opID = "0f8b0e5e-6a2b-4a8e-9e4e-1c2d3e4f5a6b"
	tests := []struct {
		name        string
		status      int
		body        string
		opAnswer    string // GET /operation/{id}; "" answers 404
		goneAfter   int    // the key's GETs that still find it
		wantErr     bool
		wantInErr   string
		wantGetKeys int
	}{
		{name: "id only, key gone", status: 200, body: `{"id":"` + opID + `"}`, wantGetKeys: 1},
		{name: "id only, key there, the operation then success", status: 200, body: `{"id":"` + opID + `"}`, opAnswer: `{"id":"` + opID + `","state":"success"}`, goneAfter: 1 << 30, wantGetKeys: 1},
		{name: "id only, the operation without state too, key gone after two looks", status: 200, body: `{"id":"` + opID + `"}`, opAnswer: `{"id":"` + opID + `"}`, goneAfter: 2, wantGetKeys: 3},
		{name: "empty object, key gone", status: 200, body: `{}`, wantGetKeys: 1},
		// A pending operation the API no longer finds (404): the key
		// says. Never a "not found" of DeleteKey while the key lives.
		{name: "pending, operation not found, key gone", status: 200, body: `{"id":"` + opID + `","state":"pending"}`, wantGetKeys: 1},
		{name: "pending, operation not found, key gone after two looks", status: 200, body: `{"id":"` + opID + `","state":"pending"}`, goneAfter: 2, wantGetKeys: 3},
		{name: "pending, operation not found, key never gone", status: 200, body: `{"id":"` + opID + `","state":"pending"}`, goneAfter: 1 << 30, wantErr: true, wantInErr: "key EXO2 still there"},
		// Pending without an id: nothing to ask but the key.
		{name: "pending without id, key gone", status: 200, body: `{"state":"pending"}`, wantGetKeys: 1},
		{name: "pending without id, key gone after two looks", status: 200, body: `{"state":"pending"}`, goneAfter: 2, wantGetKeys: 3},
		{name: "pending without id, key never gone", status: 200, body: `{"state":"pending"}`, goneAfter: 1 << 30, wantErr: true, wantInErr: "key EXO2 still there"},
		{name: "no content, key gone", status: 204, body: ``, wantGetKeys: 1},
		{name: "empty object, key gone after two looks", status: 200, body: `{}`, goneAfter: 2, wantGetKeys: 3},
		{name: "empty object, key never gone", status: 200, body: `{}`, goneAfter: 1 << 30, wantErr: true, wantInErr: "key EXO2 still there"},
		// An operation that failed for want of the key: gone, as a 404
		// to the DELETE says, once the key's GET agrees.
		{name: "failure, not found, key gone", status: 200, body: `{"id":"` + opID + `","state":"failure","reason":"not-found"}`, wantGetKeys: 1},
		{name: "failure, not found, key there", status: 200, body: `{"id":"` + opID + `","state":"failure","reason":"not-found"}`, goneAfter: 1 << 30, wantErr: true},
		{name: "failure, busy, key gone", status: 200, body: `{"id":"` + opID + `","state":"failure","reason":"busy"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			gets := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.Method == http.MethodDelete && r.URL.Path == "/v2/api-key/EXO2":
					w.WriteHeader(tt.status)
					_, _ = w.Write([]byte(tt.body))
				case r.Method == http.MethodGet && r.URL.Path == "/v2/operation/"+opID && tt.opAnswer != "":
					_, _ = w.Write([]byte(tt.opAnswer))
				case r.Method == http.MethodGet && r.URL.Path == "/v2/api-key/EXO2":
					gets++
					if gets <= tt.goneAfter {
						_, _ = w.Write([]byte(`{"key":"EXO2","name":"n","role-id":"` + opID + `"}`))
						return
					}
					w.WriteHeader(http.StatusNotFound)
					_, _ = w.Write([]byte(`{"message":"API key not found"}`))
				default:
					w.WriteHeader(http.StatusNotFound)
					_, _ = w.Write([]byte(`{"message":"not found"}`))
				}
			}))
			defer srv.Close()
			c, err := New(Config{Endpoint: srv.URL + "/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, DeleteTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			c.now = func() time.Time { return now }
			c.sleep = func(ctx context.Context, d time.Duration) error { now = now.Add(d); return nil }
			err = c.DeleteKey(context.Background(), "EXO2")
			if tt.wantErr {
				if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.wantInErr) {
					t.Fatalf("DeleteKey = %v, want an error (%q)", err, tt.wantInErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DeleteKey = %v, want done: the key is gone", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if gets != tt.wantGetKeys {
				t.Errorf("the key was asked for %d times, want %d", gets, tt.wantGetKeys)
			}
		})
	}
}
