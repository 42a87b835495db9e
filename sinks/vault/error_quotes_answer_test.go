package vault

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A gateway that got Vault's answer to a read and could not pass it on
// may quote it in its error: the answer holds the secret the path keeps
// (the current key's, or rotatord's own credential read by
// credential_from), which the read did not send and so cannot be told
// from other text by comparing. No part of it may reach the error.
func TestVaultErrorQuotingTheReadAnswerShowsNoSecret(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	var quoting atomic.Bool
	front := quotingGateway(t, srv, func(r *http.Request, body []byte) string {
		if !quoting.Load() || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/data/") {
			return ""
		}
		i := bytes.Index(body, []byte(`"api_secret"`))
		return string(body[i : i+40])
	})
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = front.URL })
	ctx := ctxT(t)
	c := roundTrip(t, e, s, "answer")
	quoting.Store(true)
	_, err := s.Read(ctx, "answer")
	if err == nil {
		t.Fatal("Read succeeded through a gateway answering 502")
	}
	if form := secretForm(err.Error(), c.Secret.Reveal()); form != "" {
		t.Errorf("read's error %q holds %q, a part of the secret", err, form)
	}
	err = s.Verify(ctx, c)
	if err == nil {
		t.Fatal("Verify succeeded through a gateway answering 502")
	}
	if form := secretForm(err.Error(), c.Secret.Reveal()); form != "" {
		t.Errorf("verify's error %q holds %q, a part of the secret", err, form)
	}
	if !strings.Contains(err.Error(), "HTTP 502") {
		t.Errorf("error %q does not say what Vault answered", err)
	}
}

// quotingGateway is a gateway in front of srv that passes every request
// on and gives Vault's answer back, except when quote returns a part of
// that answer: then it answers 502 in Vault's error shape, quoting it, as
// a gateway that could not pass the answer on may.
func quotingGateway(t *testing.T, srv *vaultServer, quote func(r *http.Request, body []byte) string) *httptest.Server {
	t.Helper()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequest(r.Method, srv.Addr+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if q := quote(r, body); q != "" {
			out, _ := json.Marshal(map[string]any{"errors": []string{"upstream answer cut short: " + q}})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write(out)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	t.Cleanup(front.Close)
	return front
}
