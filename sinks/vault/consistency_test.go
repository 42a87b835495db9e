package vault

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeKV is a KV v2 mount "secret" served the way a Vault Enterprise
// cluster with performance standbys serves it: writes go to the active
// node, and a read may land on a standby that has not applied the latest
// write yet. Such a read is answered from the state lag writes back,
// unless it carries an X-Vault-Index header naming a newer state (a real
// standby then waits until it has caught up, or answers 412, which the
// client retries).
type fakeKV struct {
	sendIndex bool // answer writes with X-Vault-Index, as Vault Enterprise does
	lag       int  // how many writes behind an unconditioned read is

	mu         sync.Mutex
	history    []map[string]*kvSecret // history[i]: after i writes
	indexes    map[string]int         // X-Vault-Index value: its write
	readIndex  [][]string             // X-Vault-Index values of each read of a secret
	writeIndex []string               // X-Vault-Index of each write
}

type kvSecret struct {
	custom   map[string]string
	versions []map[string]any
}

func newFakeKV(sendIndex bool, lag int) *fakeKV {
	return &fakeKV{sendIndex: sendIndex, lag: lag, history: []map[string]*kvSecret{{}}, indexes: map[string]int{}}
}

// state is an X-Vault-Index value the client can parse and compare.
func (f *fakeKV) state(n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "v1:fake-cluster:%d:0:", n))
}

func (f *fakeKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(status int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if body != nil {
			_ = json.NewEncoder(w).Encode(body)
		}
	}
	var in map[string]any
	if r.Method != http.MethodGet {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			reply(http.StatusBadRequest, map[string]any{"errors": []string{"bad body"}})
			return
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	switch {
	case path == "auth/token/lookup-self":
		reply(http.StatusOK, map[string]any{"data": map[string]any{"ttl": 0, "renewable": false}})
	case path == "sys/capabilities-self":
		caps := map[string]any{}
		for _, p := range in["paths"].([]any) {
			caps[p.(string)] = []string{"create", "read", "update"}
		}
		reply(http.StatusOK, map[string]any{"data": caps})
	case path == "sys/internal/ui/mounts/secret":
		reply(http.StatusOK, map[string]any{"data": map[string]any{"type": "kv", "path": "secret/", "options": map[string]string{"version": "2"}}})
	case strings.HasPrefix(path, "secret/metadata/") && r.Method == http.MethodGet:
		sec := f.read(r, strings.TrimPrefix(path, "secret/metadata/"))
		if sec == nil {
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		reply(http.StatusOK, map[string]any{"data": map[string]any{"current_version": len(sec.versions), "custom_metadata": sec.custom}})
	case strings.HasPrefix(path, "secret/metadata/"):
		custom := map[string]string{}
		for k, v := range in["custom_metadata"].(map[string]any) {
			custom[k] = v.(string)
		}
		f.write(w, strings.TrimPrefix(path, "secret/metadata/"), func(sec *kvSecret) { sec.custom = custom })
		reply(http.StatusNoContent, nil)
	case strings.HasPrefix(path, "secret/data/") && r.Method == http.MethodGet:
		sec := f.read(r, strings.TrimPrefix(path, "secret/data/"))
		if sec == nil || len(sec.versions) == 0 {
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		reply(http.StatusOK, map[string]any{"data": map[string]any{
			"data":     sec.versions[len(sec.versions)-1],
			"metadata": map[string]any{"version": len(sec.versions), "deletion_time": "", "destroyed": false},
		}})
	case strings.HasPrefix(path, "secret/data/"):
		p := strings.TrimPrefix(path, "secret/data/")
		cas := int(in["options"].(map[string]any)["cas"].(float64))
		if cur := f.history[len(f.history)-1][p]; cur == nil && cas != 0 || cur != nil && cas != len(cur.versions) {
			reply(http.StatusBadRequest, map[string]any{"errors": []string{"check-and-set parameter did not match the current version"}})
			return
		}
		var version int
		f.write(w, p, func(sec *kvSecret) {
			sec.versions = append(sec.versions, in["data"].(map[string]any))
			version = len(sec.versions)
		})
		reply(http.StatusOK, map[string]any{"data": map[string]any{"version": version}})
	default:
		reply(http.StatusNotFound, map[string]any{"errors": []string{"no handler for " + path}})
	}
}

// read returns the secret at p as the node answering r sees it.
func (f *fakeKV) read(r *http.Request, p string) *kvSecret {
	latest := len(f.history) - 1
	view := max(latest-f.lag, 0)
	values := r.Header.Values("X-Vault-Index")
	for _, v := range values {
		if n, ok := f.indexes[v]; ok && n > view {
			view = min(n, latest)
		}
	}
	f.readIndex = append(f.readIndex, values)
	return f.history[view][p]
}

// write applies change to a copy of the latest state of p.
func (f *fakeKV) write(w http.ResponseWriter, p string, change func(*kvSecret)) {
	next := maps.Clone(f.history[len(f.history)-1])
	sec := &kvSecret{}
	if cur := next[p]; cur != nil {
		sec.custom, sec.versions = cur.custom, slices.Clone(cur.versions)
	}
	change(sec)
	next[p] = sec
	f.history = append(f.history, next)
	n := len(f.history) - 1
	if f.sendIndex {
		st := f.state(n)
		f.indexes[st] = n
		f.writeIndex = append(f.writeIndex, st)
		w.Header().Set("X-Vault-Index", st)
	}
}

// TestReadAfterWriteOnStandby: a read back right after a write lands on a
// performance standby that has not applied the write yet. It must carry
// the X-Vault-Index the write returned, so that it sees the write: Verify
// finds the credential, and the next Write checks-and-sets on the version
// the last one made (a stale metadata read would make it conflict).
func TestReadAfterWriteOnStandby(t *testing.T) {
	f := newFakeKV(true, 1)
	srv := httptest.NewServer(f)
	defer srv.Close()
	e := newEnv(t, nil)
	s := e.sink("hvs.standby-test", func(o *Options) { o.Address = srv.URL })
	ctx := t.Context()
	for i := range 3 {
		c := e.cred("ci-runner")
		if err := s.Write(ctx, c); err != nil {
			e.check(err)
			t.Fatalf("Write %d: %v", i, err)
		}
		f.mu.Lock()
		written := f.writeIndex[len(f.writeIndex)-1]
		f.mu.Unlock()
		if err := s.Verify(ctx, c); err != nil {
			e.check(err)
			t.Fatalf("Verify after write %d: %v", i, err)
		}
		f.mu.Lock()
		sent := f.readIndex[len(f.readIndex)-1]
		f.mu.Unlock()
		if !slices.Contains(sent, written) {
			t.Errorf("the read back carried X-Vault-Index %q, want the write's %q", sent, written)
		}
		h, err := s.Read(ctx, "ci-runner")
		if err != nil || h.KeyID != c.KeyID {
			e.check(err)
			t.Fatalf("Read after write %d = %s, %v; want %s", i, h.KeyID, err, c.KeyID)
		}
	}
}

// TestReadAfterWriteWithoutIndex: Vault community edition sends no
// X-Vault-Index (and has no performance standbys): everything works, and
// no request carries the header.
func TestReadAfterWriteWithoutIndex(t *testing.T) {
	f := newFakeKV(false, 0)
	srv := httptest.NewServer(f)
	defer srv.Close()
	e := newEnv(t, nil)
	s := e.sink("hvs.no-index-test", func(o *Options) { o.Address = srv.URL })
	ctx := t.Context()
	for i := range 2 {
		c := e.cred("ci-runner")
		if err := s.Write(ctx, c); err != nil {
			e.check(err)
			t.Fatalf("Write %d: %v", i, err)
		}
		if err := s.Verify(ctx, c); err != nil {
			e.check(err)
			t.Fatalf("Verify after write %d: %v", i, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.readIndex {
		if len(v) != 0 {
			t.Errorf("a read carried X-Vault-Index %q with none ever returned", v)
		}
	}
}
