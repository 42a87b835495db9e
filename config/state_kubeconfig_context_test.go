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
// than one context in the file, validate now wants state.context; with
// one, or with state.context given, the file is accepted.
func TestStateKubeconfigWithSeveralContextsWantsStateContext(t *testing.T) {
	dir := t.TempDir()
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

	validate := func(state string) error {
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
		_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: env(nil)})
		return err
	}

	err := validate("{backend: kubernetes, namespace: rotatord, kubeconfig: " + two + "}")
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("state.kubeconfig with two contexts and no state.context: %v, want a problem on state.context", err)
	}
	found := false
	for _, p := range *errs {
		if p.Path == "state.context" && strings.Contains(p.Msg, two) && strings.Contains(p.Msg, "ctx-a") {
			found = true
		}
	}
	if !found {
		t.Fatalf("validate: %v\nwant a problem on state.context naming %s and its current context", err, two)
	}

	for _, state := range []string{
		"{backend: kubernetes, namespace: rotatord, kubeconfig: " + two + ", context: ctx-b}",
		"{backend: kubernetes, namespace: rotatord, kubeconfig: " + one + "}",
	} {
		if err := validate(state); err != nil {
			t.Errorf("state %s: %v, want it accepted", state, err)
		}
	}
}

// The check is what every start reads the file with (Load: run, once,
// plan, state export and import), not only `rotatord validate`: a
// replica restarted after `kubectl config use-context` is the case.
func TestLoadRefusesStateKubeconfigWithSeveralContextsWithoutStateContext(t *testing.T) {
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
	kubeconfig := filepath.Join(dir, "kubeconfig")
	doc := `apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: "https://a.example:6443"}}, {name: b, cluster: {server: "https://b.example:6443"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: ctx-a, context: {cluster: a, user: u}}, {name: ctx-b, context: {cluster: b, user: u}}]
current-context: ctx-b
`
	if err := os.WriteFile(kubeconfig, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(state string) error {
		t.Helper()
		path := filepath.Join(dir, "p.yml")
		policy := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: ` + filepath.Join(dir, "secret") + `
state: ` + state + `
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: file, path: "` + dir + `/{{.Name}}.json"}
`
		if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		return err
	}
	err = load("{backend: kubernetes, namespace: rotatord, kubeconfig: " + kubeconfig + "}")
	if err == nil || !strings.Contains(err.Error(), "state.context") || !strings.Contains(err.Error(), kubeconfig) {
		t.Fatalf("Load of a state.kubeconfig with two contexts and no state.context: %v, want it refused on state.context naming %s", err, kubeconfig)
	}
	if err := load("{backend: kubernetes, namespace: rotatord, kubeconfig: " + kubeconfig + ", context: ctx-a}"); err != nil {
		t.Errorf("Load with state.context named: %v, want it accepted", err)
	}
}
