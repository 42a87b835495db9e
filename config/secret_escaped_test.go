package config

import (
	"strings"
	"testing"
)

// b78291f cut a long word of a problem only when more than maxEcho of its
// characters are written in a row in the file: a secret in a double-quoted
// string broken by an escaped line break (two halves of 21 and 22
// characters) or written with escapes was quoted whole, as it reads
// decoded (seen with the real binary). The decoded values count as the
// file's too.
func TestAnEscapedSecretIsNotQuotedWhole(t *testing.T) {
	const sec = "Sx3kQ9vLm2Rt7YpWn4Zb8HcJd5Fg1Ks6Ae0Ui3Oy7TQ"
	const head = "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  api_secret: s\n"
	const pol = "policies:\n  - name: ci\n    match: {name: \"ci-*\"}\n"
	const sink = "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n"
	var escaped strings.Builder
	for _, r := range sec {
		escaped.WriteString(`\x` + strings.ToLower(string("0123456789ABCDEF"[r>>4])+string("0123456789ABCDEF"[r&15])))
	}
	for _, c := range []struct {
		name, value string
	}{
		{"line break", `"` + sec[:21] + "\\\n      " + sec[21:] + `"`},
		{"escapes", `"` + escaped.String() + `"`},
	} {
		body := head + pol + "    grace_period: " + c.value + "\n" + sink
		_, _, err := Validate(writePolicy(t, body), ValidateOptions{Getenv: env(nil)})
		if err == nil {
			t.Errorf("%s: want an error", c.name)
			continue
		}
		if strings.Contains(err.Error(), sec[maxEcho:]) {
			t.Errorf("%s: the error quotes the secret whole: %v", c.name, err)
		}
		if !strings.Contains(err.Error(), ":8: policies[0].grace_period:") {
			t.Errorf("%s: the error does not name its field: %v", c.name, err)
		}
	}
}
