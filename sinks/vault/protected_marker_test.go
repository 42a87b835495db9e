package vault

import (
	"strings"
	"testing"
	"text/template"
)

// A sink with take_over names rotatord's own credential's Vault in
// another spelling than credential_vault does (localhost and 127.0.0.1,
// or a DNS alias): the address comparison cannot tell they are one
// server. The credential store marks its secret as written by policy
// _self: no policy's sink takes over a secret so marked, whatever
// take_over says, or the key rotatord signs with would be replaced by
// another key's (a restart would act as that key, or be locked out).
func TestSinkNeverTakesOverASecretMarkedByTheCredentialStore(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	store := e.sink(tok, func(o *Options) {
		o.Path = template.Must(template.New("path").Parse(e.prefix + "/admin"))
		o.TakeOver = true
		o.Policy = "_self"
	})
	ctx := t.Context()
	own := e.cred("admin")
	e.check(store.Probe(ctx, own.Name))
	if err := store.Write(ctx, own); err != nil {
		t.Fatalf("store Write: %v", err)
	}
	alias := strings.Replace(srv.Addr, "127.0.0.1", "localhost", 1)
	if alias == srv.Addr {
		t.Skipf("test Vault at %s: no other spelling", srv.Addr)
	}
	s := e.sink(tok, func(o *Options) {
		o.Address = alias
		o.Path = template.Must(template.New("path").Parse(e.prefix + "/{{.Name}}"))
		o.TakeOver = true
		o.Policy = "ci"
		o.Protected = []Protected{{Address: srv.Addr, Path: e.prefix + "/admin", What: "the credential_vault of account default"}}
	})
	other := e.cred("admin")
	perr := s.Probe(ctx, other.Name)
	e.check(perr)
	werr := s.Write(ctx, other)
	e.check(werr)
	if perr == nil || werr == nil {
		t.Errorf("Probe: %v; Write: %v; want both refused", perr, werr)
	}
	if err := store.Verify(ctx, own); err != nil {
		t.Errorf("rotatord's own credential was replaced: %v", err)
	}
}
