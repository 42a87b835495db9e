package config

import (
	"encoding/base64"
	"strings"
	"testing"
)

// A value tagged !!binary is decoded from base64 before it reaches a
// message: a secret written so (namespace: !!binary U3gz…) is nowhere in
// the file, not even in the values af5f68b added as yaml.v3 reads them,
// and was quoted whole by validate (seen with the real binary).
func TestABinarySecretIsNotQuotedWhole(t *testing.T) {
	const sec = "Sx3kQ9vLm2Rt7YpWn4Zb8HcJd5Fg1Ks6Ae0Ui3Oy7TQ"
	enc := base64.StdEncoding.EncodeToString([]byte(sec))
	const head = "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  api_secret: s\n"
	const pol = "policies:\n  - name: ci\n    match: {name: \"ci-*\"}\n"
	for _, c := range []struct {
		name, body, want string
	}{
		{"namespace", head + pol + "    sinks:\n      - {type: kubernetes, namespace: !!binary " + enc + ", name: \"{{.Name}}\"}\n", ":9: policies[0].sinks[0].namespace:"},
		{"policy name", head + pol + "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n  - name: !!binary " + enc + "\n", ":10: policies[1].name:"},
	} {
		_, _, err := Validate(writePolicy(t, c.body), ValidateOptions{Getenv: env(nil)})
		if err == nil {
			t.Errorf("%s: want an error", c.name)
			continue
		}
		if strings.Contains(err.Error(), sec[maxEcho:]) {
			t.Errorf("%s: the error quotes the secret whole: %v", c.name, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: the error does not name %q: %v", c.name, c.want, err)
		}
	}
}
