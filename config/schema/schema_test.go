package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/rotatord/rotatord/config"
)

const schemaFile = "../rotatord.schema.json"

// The checked-in schema is what the generator makes from today's types.
func TestSchemaUpToDate(t *testing.T) {
	// ".." joined to this package's path is package config's.
	got, err := Generate("..", "github.com/rotatord/rotatord/config/schema")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date: run `go generate ./config`", schemaFile)
	}
}

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(ID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(ID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// instance turns a YAML policy file into what a JSON Schema validator
// sees, as yaml-language-server does.
func instance(t *testing.T, name string, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return inst
}

// examples returns every example policy file of the repository: the valid
// test files, the deploy files (the Kubernetes ConfigMap's embedded one),
// and the README's complete examples.
func examples(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid, err := filepath.Glob("../testdata/valid-*.yml")
	if err != nil || len(valid) == 0 {
		t.Fatalf("no valid test files: %v", err)
	}
	for _, p := range valid {
		out[p] = read(p)
	}
	for _, p := range []string{"../../deploy/systemd/rotatord.yml", "../../deploy/container/rotatord.yml"} {
		out[p] = read(p)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(read("../../deploy/kubernetes/configmap.yaml"), &cm); err != nil || cm.Data["rotatord.yml"] == "" {
		t.Fatalf("configmap.yaml: no rotatord.yml (%v)", err)
	}
	out["deploy/kubernetes/configmap.yaml data.rotatord.yml"] = []byte(cm.Data["rotatord.yml"])

	// README blocks that are whole policy files (they have policies: at the
	// top level); the others are fragments.
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(read("../../README.md")), -1)
	n := 0
	for i, b := range blocks {
		if regexp.MustCompile(`(?m)^policies:`).MatchString(b[1]) {
			out["README.md yaml block "+string(rune('0'+i))] = []byte(b[1])
			n++
		}
	}
	if n == 0 {
		t.Error("the README has no complete policy example")
	}
	return out
}

func TestExamplesMatchSchema(t *testing.T) {
	s := compile(t)
	for name, data := range examples(t) {
		t.Run(name, func(t *testing.T) {
			// Each is a valid policy file...
			if _, err := config.Parse(data, name, "/"); err != nil {
				t.Fatalf("config.Parse: %v", err)
			}
			// ...and the schema agrees.
			if err := s.Validate(instance(t, name, data)); err != nil {
				t.Errorf("%s does not match the schema:\n%v", name, err)
			}
		})
	}
}

// The schema is no blank cheque: files config refuses for what the schema
// can express fail it too.
func TestSchemaRejects(t *testing.T) {
	s := compile(t)
	for _, f := range []string{
		"invalid-unknown-field.yml",
		"invalid-unknown-nested-field.yml",
		"invalid-unknown-vault-auth-field.yml",
		"invalid-wrong-type.yml",
		"invalid-zone.yml",
		"invalid-max-age.yml",
		"invalid-timeout-without-unit.yml",
		"invalid-policy-name.yml",
		"invalid-no-sinks.yml",
		"invalid-no-policies.yml",
		"invalid-sink-type.yml",
		"invalid-missing-sink-type.yml",
		"invalid-missing-match-name.yml",
		"invalid-file-sink-without-path.yml",
		"invalid-mode.yml",
		"invalid-format.yml",
		"invalid-adopt.yml",
		"invalid-vault-auth-method.yml",
		"invalid-vault-field-on-file-sink.yml",
		"invalid-file-field-on-vault-sink.yml",
		"invalid-template-format-without-template.yml",
		"invalid-api-key-and-file.yml",
		"invalid-api-secret-and-file.yml",
		"invalid-concurrency.yml",
		"invalid-max-retries.yml",
		"invalid-role-id.yml",
	} {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("../testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(instance(t, f, data)); err == nil {
				t.Errorf("%s matches the schema", f)
			}
		})
	}
	for _, give := range []string{"1w", "1y", "1d12h", "90m", "1h30m", "1.5h", "0", "36h0m0s", "1d1.5h"} {
		doc := "policies:\n  - name: p\n    match: {name: x}\n    max_age: " + give + "\n    sinks: [{type: file, path: /x}]\n"
		if err := s.Validate(instance(t, give, []byte(doc))); err != nil {
			t.Errorf("max_age %s: %v", give, err)
		}
		if _, err := config.ParseDuration(give); err != nil {
			t.Errorf("config refuses %s: %v", give, err)
		}
	}
	for _, give := range []string{"30", "30days", "1.5d", "12h1d"} {
		doc := "policies:\n  - name: p\n    match: {name: x}\n    max_age: " + give + "\n    sinks: [{type: file, path: /x}]\n"
		if err := s.Validate(instance(t, give, []byte(doc))); err == nil {
			t.Errorf("max_age %s matches the schema", give)
		}
		if _, err := config.ParseDuration(give); err == nil {
			t.Errorf("config accepts %s", give)
		}
	}
	// A sign or nothing parses as a duration, but no duration field takes
	// it (each must be positive, or zero at most): the schema refuses them.
	for _, give := range []string{"-1h", "''"} {
		doc := "policies:\n  - name: p\n    match: {name: x}\n    max_age: " + give + "\n    sinks: [{type: file, path: /x}]\n"
		if err := s.Validate(instance(t, give, []byte(doc))); err == nil {
			t.Errorf("max_age %s matches the schema", give)
		}
	}
}
