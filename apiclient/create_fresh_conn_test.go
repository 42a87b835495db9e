package apiclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A server (or a load balancer before it) drops an idle keep-alive
// connection without notice, just as the next request goes out on it.
// For a create, that request was written: the client cannot know whether
// the API got it, and the create is ambiguous (a failed pass, a search
// for a key made without its secret). The second stand-in's "idle
// connections closed" mode (5 ms) failed once --force so on a loaded
// machine (go test -cpu=1: 2 runs of 2). Here the server closes, without
// answering, every request that comes on a connection it already
// answered: a create must go on a connection of its own.
func TestCreateGoesOnAFreshConnection(t *testing.T) {
	var mu sync.Mutex
	answered := map[string]bool{} // remote address -> a request answered on it
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reused := answered[r.RemoteAddr]
		answered[r.RemoteAddr] = true
		mu.Unlock()
		if reused {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodPost:
			_, _ = w.Write([]byte(`{"key":"EXO3","secret":"c2VjcmV0","name":"n","role-id":"2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a"}`))
		default:
			_, _ = w.Write([]byte(`{"api-keys":[{"key":"EXO1","name":"admin","role-id":"2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a"}]}`))
		}
	}))
	defer srv.Close()
	c, err := New(Config{Endpoint: srv.URL + "/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.ListKeys(ctx); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateKey(ctx, "n", "2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a")
	if err != nil {
		t.Fatalf("create after a listing, the listing's connection dropped: %v, want the key", err)
	}
	if k.Key.ID != "EXO3" {
		t.Errorf("created %q, want EXO3", k.Key.ID)
	}
}
