package vault

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestPlainHTTPRefused: plain http to a host that is not loopback sends the
// token and the secrets in clear. The policy file's address is checked when
// it is loaded; VAULT_ADDR is checked by the sink, by the same rule: refused
// unless insecure_http, which is logged as a loud warning.
func TestPlainHTTPRefused(t *testing.T) {
	tests := []struct {
		name     string
		address  string // the sink's; "" reads VAULT_ADDR
		env      string // VAULT_ADDR
		insecure bool
		want     string // error; "" for success
		warn     bool
	}{
		{"VAULT_ADDR plain http to the network", "", "http://vault.example:8200", false, "VAULT_ADDR http://vault.example:8200 is plain http", false},
		{"VAULT_ADDR plain http to an IP", "", "http://10.0.0.7:8200", false, "insecure_http", false},
		{"VAULT_ADDR plain http, insecure_http", "", "http://vault.example:8200", true, "", true},
		{"VAULT_ADDR https", "", "https://vault.example:8200", false, "", false},
		{"VAULT_ADDR loopback", "", "http://127.0.0.1:8200", false, "", false},
		{"VAULT_ADDR localhost", "", "http://localhost:8200", false, "", false},
		{"VAULT_ADDR IPv6 loopback", "", "http://[::1]:8200", false, "", false},
		{"VAULT_ADDR unix socket", "", "unix:///run/vault.sock", false, "", false},
		{"address plain http", "http://vault.example:8200", "", false, "address http://vault.example:8200 is plain http", false},
		{"address plain http, insecure_http", "http://vault.example:8200", "", true, "", true},
		{"address loopback, insecure_http: no warning", "http://127.0.0.1:8200", "", true, "", false},
		{"address https, insecure_http: no warning", "https://vault.example", "", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			s, err := New(Options{
				Address:      tt.address,
				Path:         pathTmpl(t, "exoscale/{{.Name}}"),
				InsecureHTTP: tt.insecure,
				Logger:       zap.New(core),
				Getenv: func(k string) string {
					return map[string]string{"VAULT_ADDR": tt.env, "VAULT_TOKEN": "hvs.transport-test"}[k]
				},
			})
			if tt.want != "" {
				if err == nil {
					s.Close()
					t.Fatalf("New succeeded, want an error with %q", tt.want)
				}
				if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "insecure_http") {
					t.Fatalf("New: %v\nwant %q and a hint at insecure_http", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			warned := logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("PLAIN HTTP TO VAULT").Len()
			if (warned == 1) != tt.warn || warned > 1 {
				t.Errorf("%d plain-HTTP warnings, want warning %v", warned, tt.warn)
			}
		})
	}
}
