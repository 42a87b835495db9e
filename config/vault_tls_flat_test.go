package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// The issue that specified the Vault sink lists its TLS settings as ca_cert,
// tls_server_name and insecure_skip_verify, without a tls: block; a policy
// file written that way is read as the tls: block would be.
func TestVaultSinkTakesTheTLSFieldsBesideItsOtherFields(t *testing.T) {
	dir := t.TempDir()
	doc := `exoscale:
  api_key: EXOaaaaaaaaaaaaaaaaaaaaaaaa
  api_secret: admin-secret
policies:
  - name: ci
    match:
      name: ci-*
    sinks:
      - type: vault
        address: https://vault.example.com:8200
        path: exoscale/{{.Name}}
        ca_cert: ca.pem
        tls_server_name: vault.internal
        insecure_skip_verify: true
`
	cfg, err := Parse([]byte(doc), "policy.yml", dir)
	if err != nil {
		t.Fatal(err)
	}
	tls := cfg.Policies[0].Sinks[0].TLS
	if want := filepath.Join(dir, "ca.pem"); tls.CACert != want {
		t.Errorf("TLS.CACert = %q, want %q", tls.CACert, want)
	}
	if tls.ServerName != "vault.internal" {
		t.Errorf("TLS.ServerName = %q, want vault.internal", tls.ServerName)
	}
	if !tls.InsecureSkipVerify {
		t.Error("TLS.InsecureSkipVerify = false, want true")
	}
}

// One setting given both ways is an error naming both spellings, and a flat
// TLS field on a file sink is refused as the tls block is.
func TestVaultSinkTLSFieldGivenTwiceOrOnAFileSinkIsAnError(t *testing.T) {
	doc := `exoscale:
  api_key: EXOaaaaaaaaaaaaaaaaaaaaaaaa
  api_secret: admin-secret
policies:
  - name: ci
    match:
      name: ci-*
    sinks:
      - type: vault
        address: https://vault.example.com:8200
        path: exoscale/{{.Name}}
        ca_cert: /etc/ca-a.pem
        tls:
          ca_cert: /etc/ca-b.pem
      - type: file
        path: /etc/ci/{{.Name}}.json
        tls_server_name: vault.internal
`
	_, err := Parse([]byte(doc), "policy.yml", "/")
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse() error = %v, want *Errors", err)
	}
	got := err.Error()
	for _, want := range []string{
		"policy.yml:12: policies[0].sinks[0].ca_cert: given twice, here and as tls.ca_cert",
		"policy.yml:17: policies[0].sinks[1].tls_server_name: only for type vault",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
}
