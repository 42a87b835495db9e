package file_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/config"
)

// TestConfigKnowsTemplateFuncs: the policy file's template: is parsed with
// the file sink's escaping functions, and the parsed template renders with
// them.
func TestConfigKnowsTemplateFuncs(t *testing.T) {
	policy := func(tmpl string) []byte {
		return []byte(`exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: not-checked-here
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: file
        path: /srv/creds/{{.Name}}.json
      - type: file
        path: /srv/creds/{{.Name}}.conf
        format: template
        template: '` + tmpl + `'
`)
	}
	cfg, err := config.Parse(policy(`KEY_NAME={{shquote .Name}} {{json .APIKey}} {{.APISecret | toml}}`), "policy.yml", "")
	if err != nil {
		t.Fatalf("a template using shquote, json and toml: %v", err)
	}
	var buf bytes.Buffer
	err = cfg.Policies[0].Sinks[1].ContentTemplate().Execute(&buf, struct{ Name, APIKey, APISecret string }{"ci-x;id>pwned", `EXO"1`, "s\\"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), `KEY_NAME='ci-x;id>pwned' "EXO\"1" "s\\"`; got != want {
		t.Errorf("rendered %s, want %s", got, want)
	}

	// An unknown function is still an error, at the template's line.
	_, err = config.Parse(policy(`{{shellquote .Name}}`), "policy.yml", "")
	if err == nil || !strings.Contains(err.Error(), `function "shellquote" not defined`) {
		t.Errorf("unknown function: error = %v", err)
	}
}
