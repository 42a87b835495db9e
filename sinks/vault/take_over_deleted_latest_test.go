package vault

import (
	"testing"
	"text/template"
)

// A sink with take_over meets a secret rotatord did not write whose latest
// version was soft-deleted (vault kv delete): nothing is served there, so
// it holds no key rotatord signs with. The check for one (ownKeyIn) read
// the latest version, got Vault's 404 and refused the take-over at every
// probe and write: the name never rotated into a path take_over let it
// claim before.
func TestTakeOverSecretWithDeletedLatestVersion(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	e.writeAsOther("ci-deleted", map[string]any{"api_key": "EXO000000000000000000000077", "api_secret": "x"})
	srv.root(t, "DELETE", "secret/data/"+e.prefix+"/ci-deleted", nil)
	s := e.sink(tok, func(o *Options) {
		o.Path = template.Must(template.New("path").Parse(e.prefix + "/{{.Name}}"))
		o.TakeOver = true
		o.Policy = "ci"
		o.OwnKeys = func() []string { return []string{"EXO000000000000000000000001"} }
	})
	ctx := ctxT(t)
	c := e.cred("ci-deleted")
	if err := s.Probe(ctx, c.Name); err != nil {
		e.check(err)
		t.Fatalf("Probe: %v", err)
	}
	if err := s.Write(ctx, c); err != nil {
		e.check(err)
		t.Fatalf("Write: %v", err)
	}
	if data, _ := e.secretData("ci-deleted"); data[FieldAPIKey] != c.KeyID {
		t.Errorf("after the take-over the secret holds %v, want %s", data[FieldAPIKey], c.KeyID)
	}
}
