package config

import (
	"os"
	"strings"
	"testing"
)

// The file sink's fence commit (3e7f34e) tells README readers that
// replicas "should not share a file sink's volume"; `rotatord validate`
// warns that with leader_election every replica "must see the same file
// (a shared volume)". A reader cannot follow both: with unshared volumes a
// new leader finds its sink without the key the last one delivered and
// rolls it back. The two must agree.
func TestReadmeAndValidatorAgreeOnSharedFileSinks(t *testing.T) {
	doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: secret
state: {backend: kubernetes, namespace: rotatord}
leader_election: {}
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: file, path: "` + t.TempDir() + `/{{.Name}}.env", format: env}
`
	file := writePolicy(t, doc)
	_, warns, err := Validate(file, ValidateOptions{Getenv: env(nil)})
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var w string
	for _, p := range warns {
		if strings.Contains(p.Msg, "file sink with leader_election") {
			w = p.Msg
		}
	}
	if !strings.Contains(w, "shared volume") {
		t.Skipf("validator warning changed: %q", w)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(readme)), " ")
	if strings.Contains(flat, "replicas should not share a file sink's volume") {
		t.Errorf("README says replicas should not share a file sink's volume; validate warns: %q", w)
	}
}
