package vault

import (
	"net/http/httptest"
	"strings"
	"testing"
	"text/template"
)

// A templated sink with take_over, in the Vault that holds rotatord's own
// credential (credential_from: vault): a key someone names after the
// credential's secret renders its path. The sink must refuse it before
// anything is sent, whatever take_over says, as the file sink refuses
// rotatord's own files (the key rotatord signs with would be replaced by
// the other key's, and its own secret lost). Another name is written.
func TestSinkNeverWritesRotatordsOwnCredential(t *testing.T) {
	f := newFakeKV(false, 0)
	srv := httptest.NewServer(f)
	defer srv.Close()
	e := newEnv(t, nil)
	s := e.sink("hvs.protected-test", func(o *Options) {
		o.Address = srv.URL
		o.Path = template.Must(template.New("path").Parse("exoscale/{{.Name}}"))
		o.TakeOver = true
		o.Policy = "ci"
		o.Protected = []Protected{{Address: srv.URL + "/", Mount: "/secret/", Path: "exoscale/rotatord", What: "the credential_vault of account default"}}
	})
	ctx := t.Context()
	c := e.cred("rotatord")
	for step, err := range map[string]error{"Probe": s.Probe(ctx, "rotatord"), "Write": s.Write(ctx, c)} {
		if err == nil || !strings.Contains(err.Error(), "rotatord's own credential") {
			t.Errorf("%s of the name that renders the credential's path: %v, want a refusal", step, err)
		}
	}
	f.mu.Lock()
	got := f.history[len(f.history)-1]["exoscale/rotatord"]
	f.mu.Unlock()
	if got != nil {
		t.Fatalf("the credential's secret was written: %v", got.versions)
	}

	other := e.cred("ci-a")
	if err := s.Probe(ctx, "ci-a"); err != nil {
		t.Fatalf("Probe of another name: %v", err)
	}
	if err := s.Write(ctx, other); err != nil {
		t.Fatalf("Write of another name: %v", err)
	}
}
