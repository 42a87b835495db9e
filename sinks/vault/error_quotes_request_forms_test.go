package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// formProxy forwards to a real Vault, but answers every data write with
// Vault's JSON error shape whose messages quote the request's body in
// some form: cut short, escaped, encoded, or split over several messages.
func formProxy(t *testing.T, target string, quote func(body string) []string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || !strings.Contains(r.URL.Path, "/data/") {
			rp.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		out, _ := json.Marshal(map[string]any{"errors": quote(string(body))})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A gateway that quotes the request it could not handle may not quote it
// whole and as sent: it cuts it short, escapes it for a URL or a JSON
// string, encodes it in base64, or spreads it over several messages. No
// such form of the secret may reach the sink's error (which the engine
// logs, prints in once's table and keeps in the journal's last_error).
func TestVaultErrorQuotingTheRequestInAnyFormShowsNoSecret(t *testing.T) {
	srv := needVault(t)
	// Where the secret starts in the body (after `"api_secret":"`).
	secretAt := func(body string) int { return strings.Index(body, `"api_secret":"`) + len(`"api_secret":"`) }
	for _, tt := range []struct {
		name  string
		quote func(body string) []string
	}{
		{"cut short in the secret", func(b string) []string {
			return []string{"request too large, starts with: " + b[:secretAt(b)+12]}
		}},
		{"split over two messages", func(b string) []string {
			i := secretAt(b) + 10
			return []string{"body: " + b[:i], "(continued) " + b[i:]}
		}},
		{"url escaped", func(b string) []string { return []string{"bad request to ?" + url.Values{"body": {b}}.Encode()} }},
		{"json escaped, slashes too", func(b string) []string {
			q, _ := json.Marshal(b)
			return []string{"cannot parse " + strings.ReplaceAll(string(q), "/", `\/`)}
		}},
		{"base64", func(b string) []string {
			return []string{"body (base64): " + base64.StdEncoding.EncodeToString([]byte(b))}
		}},
		{"base64 shifted by one", func(b string) []string {
			return []string{"body (base64): " + base64.URLEncoding.EncodeToString([]byte("x"+b))}
		}},
		{"base64 shifted by two", func(b string) []string {
			return []string{"body (base64): " + base64.RawStdEncoding.EncodeToString([]byte("xy"+b))}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, srv)
			addr := formProxy(t, srv.Addr, tt.quote)
			s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
			ctx := ctxT(t)
			c := e.cred("forms")
			// A secret with characters escaped by URLs and JSON.
			c.Secret = c.Secret + "+/=<&>"
			e.forbid(c.Secret.Reveal())
			if err := s.Probe(ctx, "forms"); err != nil {
				t.Fatal(err)
			}
			err := s.Write(ctx, c)
			if err == nil {
				t.Fatal("Write succeeded through a proxy that answers an error")
			}
			if form := secretForm(err.Error(), c.Secret.Reveal()); form != "" {
				t.Errorf("error %q holds %q, a form of the secret", err, form)
			}
			if msg := err.Error(); !strings.Contains(msg, "HTTP 400") {
				t.Errorf("error %q does not say what Vault answered", msg)
			}
		})
	}
}

// secretForm returns a part of the secret (12 characters), as sent or
// escaped or encoded, that msg holds, or "".
func secretForm(msg, sec string) string {
	jsonHTML, _ := json.Marshal(sec)
	forms := []string{
		sec, url.QueryEscape(sec), url.PathEscape(sec),
		strings.Trim(string(jsonHTML), `"`), strings.ReplaceAll(strings.Trim(string(jsonHTML), `"`), "/", `\/`),
	}
	for pad := range 3 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			b64 := enc.EncodeToString(append(bytes.Repeat([]byte("x"), pad), sec...))
			// The part that depends on the secret alone.
			forms = append(forms, b64[4:len(b64)-4])
		}
	}
	for _, f := range forms {
		for i := 0; i+12 <= len(f); i++ {
			if strings.Contains(msg, f[i:i+12]) {
				return f[i : i+12]
			}
		}
	}
	return ""
}
