//go:build unix

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// validate checks the kubeconfig a Kubernetes sink and the Kubernetes
// state backend name (it did not: a named pipe there passed validate, then
// held `rotatord run` at its start): it exists, is a regular file, parses,
// and the files it names are regular files. Each problem is on the
// kubeconfig field and names the file.
func TestValidateChecksTheKubeconfigsThePolicyNames(t *testing.T) {
	dir, err := os.MkdirTemp("", "kube")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("clusters: [this is not\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caPipe := filepath.Join(dir, "ca-pipe.yml")
	if err := os.WriteFile(caPipe, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://k8s.example:6443", certificate-authority: fifo}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name, state, sink, field, want, file string
	}{
		{"sink named pipe", "", fifo, "policies[0].sinks[0].kubeconfig", "not a regular file", fifo},
		{"sink missing", "", missing, "policies[0].sinks[0].kubeconfig", "no such file", missing},
		{"sink unparsable", "", garbage, "policies[0].sinks[0].kubeconfig", "kubeconfig", garbage},
		{"sink CA named pipe", "", caPipe, "policies[0].sinks[0].kubeconfig", "certificate-authority " + fifo + ": not a regular file", caPipe},
		{"state named pipe", fifo, "", "state.kubeconfig", "not a regular file", fifo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: ` + filepath.Join(dir, "secret") + "\n"
			if tc.state != "" {
				doc += "state: {backend: kubernetes, namespace: rotatord, kubeconfig: " + tc.state + "}\n"
			}
			doc += `state_dir: ` + filepath.Join(dir, "state") + `
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: kubernetes, namespace: apps, name: "exoscale-{{.Name}}"`
			if tc.sink != "" {
				doc += ", kubeconfig: " + tc.sink
			}
			doc += "}\n"
			path := filepath.Join(dir, "p.yml")
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: env(nil)})
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				for range 3 {
					if w, werr := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
						w.Close()
					}
				}
				t.Fatal("validate waits on a named pipe")
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("validate: %v, want a problem on %s", err, tc.field)
			}
			for _, p := range *errs {
				if p.Path == tc.field && strings.Contains(p.Msg, tc.want) && strings.Contains(p.Msg, tc.file) {
					return
				}
			}
			t.Fatalf("validate: %v\nwant a problem on %s naming %s: %s", err, tc.field, tc.file, tc.want)
		})
	}
}
