package vault

import (
	"errors"
	"strings"
	"testing"
	"text/template"

	"github.com/rotatord/rotatord/sinks"
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

// The credential store marks its secret only once it writes it (the first
// own rotation): until then the secret an operator put there carries no
// marker, and a sink with take_over naming its Vault in another spelling
// (localhost for 127.0.0.1) replaced the key rotatord signs with. A sink
// with take_over refuses an unmarked (or another policy's) secret whose
// data holds a key id rotatord signs with (Options.OwnKeys), and takes over
// one holding another key.
func TestSinkNeverTakesOverASecretHoldingRotatordsKey(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	own := e.cred("admin")
	e.writeAsOther("admin", map[string]any{"api_key": own.KeyID, "api_secret": own.Secret.Reveal()})
	e.writeAsOther("ci-other", map[string]any{"api_key": "EXO000000000000000000000077", "api_secret": "x"})
	alias := strings.Replace(srv.Addr, "127.0.0.1", "localhost", 1)
	s := e.sink(tok, func(o *Options) {
		o.Address = alias
		o.Path = template.Must(template.New("path").Parse(e.prefix + "/{{.Name}}"))
		o.TakeOver = true
		o.Policy = "ci"
		o.OwnKeys = func() []string { return []string{"", own.KeyID} }
	})
	ctx := t.Context()
	other := e.cred("admin")
	perr := s.Probe(ctx, other.Name)
	e.check(perr)
	werr := s.Write(ctx, other)
	e.check(werr)
	if !errors.Is(perr, ErrProtected) || !errors.Is(werr, ErrProtected) || !sinks.IsNothingSent(werr) {
		t.Errorf("Probe: %v; Write: %v; want both %v, nothing sent", perr, werr, ErrProtected)
	}
	if data, _ := e.secretData("admin"); data["api_key"] != own.KeyID {
		t.Errorf("rotatord's own credential was replaced: it holds %v", data["api_key"])
	}
	c := e.cred("ci-other")
	e.check(s.Probe(ctx, c.Name))
	if err := s.Write(ctx, c); err != nil {
		t.Fatalf("take over another key's secret: %v", err)
	}
}
