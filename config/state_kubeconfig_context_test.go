package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The journal and the Lease follow a kubeconfig's current-context when
// state.context is empty. `kubectl config use-context` on one replica's
// file, then a restart, made that replica lead under a Lease in another
// cluster, with an empty journal there, beside the replicas still
// leading in the first: two leaders acting on one organization. With more
// than one context in the file, state.context is now required, by
// `rotatord validate` and by every start (Load: run, once, plan, state
// export and import); with one context, or state.context given, the file
// is accepted.
func TestStateKubeconfigWithSeveralContextsWantsStateContext(t *testing.T) {
	// A short directory: a long random path is masked in messages as a
	// possible secret.
	dir, err := os.MkdirTemp("", "kc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, contexts string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		doc := `apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: "https://a.example:6443"}}, {name: b, cluster: {server: "https://b.example:6443"}}]
users: [{name: u, user: {token: abc}}]
contexts: [` + contexts + `]
current-context: ctx-a
`
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	two := write("two.yml", "{name: ctx-a, context: {cluster: a, user: u}}, {name: ctx-b, context: {cluster: b, user: u}}")
	one := write("one.yml", "{name: ctx-a, context: {cluster: a, user: u}}")

	for _, check := range []struct {
		name string
		run  func(path string) error
	}{
		{"validate", func(path string) error {
			_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: env(nil)})
			return err
		}},
		{"Load", func(path string) error {
			_, err := Load(path)
			return err
		}},
	} {
		t.Run(check.name, func(t *testing.T) {
			with := func(state string) error {
				t.Helper()
				doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: ` + filepath.Join(dir, "secret") + `
state: ` + state + `
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: file, path: "` + dir + `/{{.Name}}.json"}
`
				path := filepath.Join(dir, "p.yml")
				if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
					t.Fatal(err)
				}
				return check.run(path)
			}

			err := with("{backend: kubernetes, namespace: rotatord, kubeconfig: " + two + "}")
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("state.kubeconfig with two contexts and no state.context: %v, want a problem on state.context", err)
			}
			found := false
			for _, p := range *errs {
				if p.Path == "state.context" && strings.Contains(p.Msg, two) && strings.Contains(p.Msg, `"ctx-a"`) {
					found = true
				}
			}
			if !found {
				t.Fatalf("%v\nwant a problem on state.context naming %s and its current context", err, two)
			}

			for _, state := range []string{
				"{backend: kubernetes, namespace: rotatord, kubeconfig: " + two + ", context: ctx-b}",
				"{backend: kubernetes, namespace: rotatord, kubeconfig: " + one + "}",
			} {
				if err := with(state); err != nil {
					t.Errorf("state %s: %v, want it accepted", state, err)
				}
			}
		})
	}
}
