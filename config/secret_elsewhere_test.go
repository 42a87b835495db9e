package config

import (
	"strings"
	"testing"
)

// TestAnInlineSecretWrittenElsewhereIsRefused: the policy file's inline
// api_secret, aliased (*s) or copied into a field that takes any text (a
// Vault sink's mount and namespace, an exclude glob, a data key's name, a
// label), was valid, and validate --online printed it whole in the
// sink's target ("vault:<secret>/exoscale/ci-deploy (namespace
// <secret>)", seen with the real binary); plan, a pass's log and the
// journal show a sink's target as well. Such a file is now refused, on
// the field, without the secret; the secret in its own place (also
// merged into an account, <<: *exo) stays valid.
func TestAnInlineSecretWrittenElsewhereIsRefused(t *testing.T) {
	const sec = "Sx3kQ9vLm2Rt7YpWn4Zb8Hc-d5Fg1Ks6Ae0Ui3Oy7TQ"
	const head = "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  api_secret: &s \"" + sec + "\"\n"
	const pol = "policies:\n  - name: ci\n    match: {name: \"ci-*\"}\n"
	vault := func(fields string) string {
		return head + pol + "    sinks:\n      - {type: vault, path: \"exoscale/{{.Name}}\", address: \"https://vault.example:8200\", auth: {method: token, token_file: /run/t}, " + fields + "}\n"
	}
	kube := func(fields string) string {
		return head + pol + "    sinks:\n      - {type: kubernetes, namespace: a, name: \"{{.Name}}\", " + fields + "}\n"
	}
	for _, c := range []struct{ name, body, want string }{
		{"vault mount", vault("mount: *s"), ":9: policies[0].sinks[0].mount:"},
		{"vault namespace", vault("namespace: *s"), ":9: policies[0].sinks[0].namespace:"},
		{"vault mount, copied", vault("mount: \"x" + sec + "\""), ":9: policies[0].sinks[0].mount:"},
		{"exclude", head + strings.Replace(pol, `{name: "ci-*"}`, `{name: "ci-*", exclude: [*s]}`, 1) + "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n", ":7: policies[0].match.exclude[0]:"},
		{"data key", kube("keys: {api_key: k, api_secret: *s}"), ":9: policies[0].sinks[0].keys.api_secret:"},
		{"label", kube("labels: {a: *s}"), ":9: policies[0].sinks[0].labels.a:"},
	} {
		_, _, err := Validate(writePolicy(t, c.body), ValidateOptions{Getenv: env(nil)})
		if err == nil {
			t.Errorf("%s: valid, want the secret written elsewhere refused", c.name)
			continue
		}
		if strings.Contains(err.Error(), sec[maxEcho:]) {
			t.Errorf("%s: the error quotes the secret whole: %v", c.name, err)
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "exoscale.api_secret") {
			t.Errorf("%s: the error does not name %q and the secret's field: %v", c.name, c.want, err)
		}
	}
	// The secret in its own place, merged into an account as well.
	ok := "exoscale: &exo\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  api_secret: \"" + sec + "\"\n" +
		"accounts:\n  - {name: other, <<: *exo, api_key: EXO0123456789abcdef0123456a}\n" +
		pol + "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n"
	if _, _, err := Validate(writePolicy(t, ok), ValidateOptions{Getenv: env(nil)}); err != nil && strings.Contains(err.Error(), "holds the secret") {
		t.Errorf("the secret in its own place is refused: %v", err)
	}
}
