package vault

import (
	"encoding/hex"
	"strings"
	"testing"
)

// A gateway may quote the request in pieces shorter than the scrub's run
// (one message per 7 characters: each alone quotes nothing, together the
// whole secret), or dump it in hexadecimal, or change its case: no part
// of the secret may reach the sink's error in any of these forms.
func TestVaultErrorQuotingTheRequestInPiecesOrHexShowsNoSecret(t *testing.T) {
	srv := needVault(t)
	for _, tt := range []struct {
		name  string
		quote func(body string) []string
	}{
		{"one message per 7 characters", func(b string) []string {
			var out []string
			for i := 0; i < len(b); i += 7 {
				out = append(out, b[i:min(i+7, len(b))])
			}
			return out
		}},
		{"one line per 7 characters", func(b string) []string {
			var out []string
			for i := 0; i < len(b); i += 7 {
				out = append(out, b[i:min(i+7, len(b))])
			}
			return []string{"body:\n" + strings.Join(out, "\n")}
		}},
		{"hex", func(b string) []string { return []string{"body: " + hex.EncodeToString([]byte(b))} }},
		{"hex upper case", func(b string) []string {
			return []string{"body: " + strings.ToUpper(hex.EncodeToString([]byte(b)))}
		}},
		{"upper case", func(b string) []string { return []string{"BAD REQUEST: " + strings.ToUpper(b)} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, srv)
			addr := formProxy(t, srv.Addr, tt.quote)
			s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
			ctx := ctxT(t)
			c := e.cred("pieces")
			if err := s.Probe(ctx, "pieces"); err != nil {
				t.Fatal(err)
			}
			err := s.Write(ctx, c)
			if err == nil {
				t.Fatal("Write succeeded through a proxy that answers an error")
			}
			msg := err.Error()
			sec := c.Secret.Reveal()
			// The pieces put back together, whatever joins them.
			joined := strings.ReplaceAll(strings.ReplaceAll(msg, "; ", ""), " ", "")
			for _, f := range []string{sec, strings.ToUpper(sec), hex.EncodeToString([]byte(sec)), strings.ToUpper(hex.EncodeToString([]byte(sec)))} {
				for i := 0; i+12 <= len(f); i++ {
					if strings.Contains(joined, f[i:i+12]) {
						t.Fatalf("error %q holds %q, a part of the secret in some form", msg, f[i:i+12])
					}
				}
			}
			if !strings.Contains(msg, "HTTP 400") {
				t.Errorf("error %q does not say what Vault answered", msg)
			}
		})
	}
}
