package vault

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// A first write lands but its answer is lost (a gateway's 502); the
// client's retry is refused as a check-and-set conflict, and the read that
// would recognize rotatord's own content fails once too. The secret then holds
// the new key: its managed-by marker must stay, or every later rotation is
// refused at its probe (not managed by rotatord) while the consumer uses
// that key.
func TestFirstWriteThatLandedKeepsItsMarkerWhenTheConflictCannotBeRead(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	u, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		hold      string
		landed    bool
		failReads int // data reads still to fail
	)
	rp := httputil.NewSingleHostReverseProxy(u)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		data := strings.Contains(r.URL.Path, "/data/")
		mu.Lock()
		first := hold != "" && !landed && r.Method != http.MethodGet && data && bytes.Contains(body, []byte(hold))
		if first {
			// One read's attempts (the client tries 3 times) fail.
			landed, failReads = true, 3
		}
		fail := failReads > 0 && r.Method == http.MethodGet && data
		if fail {
			failReads--
		}
		mu.Unlock()
		switch {
		case first:
			// Vault applies it; its answer is lost on the way back.
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			http.Error(w, `{"errors":["bad gateway"]}`, http.StatusBadGateway)
		case fail:
			http.Error(w, `{"errors":["bad gateway"]}`, http.StatusBadGateway)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(proxy.Close)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = proxy.URL })
	ctx := ctxT(t)
	if err := s.Probe(ctx, "landed"); err != nil {
		t.Fatal(err)
	}
	c := e.cred("landed")
	mu.Lock()
	hold = c.KeyID
	mu.Unlock()
	err = s.Write(ctx, c)
	e.check(err)
	if data, _ := e.secretData("landed"); data[FieldAPIKey] != c.KeyID {
		t.Fatalf("Vault holds %v, want the landed write's key %s", data[FieldAPIKey], c.KeyID)
	}
	if cm := e.customMetadata("landed"); cm[ManagedByKey] != ManagedByValue {
		t.Errorf("write error %v; the secret holds rotatord's key but its marker was removed: custom metadata %v", err, cm)
	}
	if err := s.Probe(ctx, "landed"); err != nil {
		t.Errorf("the next rotation's probe: %v", err)
	}
}
