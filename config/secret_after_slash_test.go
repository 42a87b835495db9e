package config

import (
	"strings"
	"testing"
)

// b78291f left a long word after a '/' whole, "a part of a path, left to
// ShownPath", but these messages never go through ShownPath: a secret
// pasted after a '/' in a duration, a schedule, its time zone, a
// namespace or a label was quoted whole by validate (seen with the real
// binary).
func TestASecretAfterASlashIsNotQuotedWhole(t *testing.T) {
	const sec = "Sx3kQ9vLm2Rt7YpWn4Zb8HcJd5Fg1Ks6Ae0Ui3Oy7TQ"
	const head = "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  api_secret: s\n"
	const pol = "policies:\n  - name: ci\n    match: {name: \"ci-*\"}\n"
	const sink = "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n"
	for _, c := range []struct {
		name, body, want string
	}{
		{"duration", head + pol + "    grace_period: 1h/SECRET\n" + sink, ":8: policies[0].grace_period:"},
		{"every", head + pol + "    schedule: \"@every 1h/SECRET\"\n" + sink, ":8: policies[0].schedule:"},
		{"schedule step", head + pol + "    schedule: \"0 3 * * */SECRET\"\n" + sink, ":8: policies[0].schedule:"},
		{"time zone", head + pol + "    schedule: \"TZ=Europe/SECRET 0 3 * * *\"\n" + sink, ":8: policies[0].schedule:"},
		{"namespace", head + pol + "    sinks:\n      - {type: kubernetes, namespace: a/SECRET, name: \"{{.Name}}\"}\n", ":9: policies[0].sinks[0].namespace:"},
		{"label value", head + pol + "    sinks:\n      - {type: kubernetes, namespace: a, name: \"{{.Name}}\", labels: {a: /SECRET}}\n", ":9: policies[0].sinks[0].labels:"},
		{"label name", head + pol + "    sinks:\n      - {type: kubernetes, namespace: a, name: \"{{.Name}}\", labels: {\"example.com/SECRET\": \"x/\"}}\n", ":9: policies[0].sinks[0].labels:"},
		// A character after the secret that no base64 has ('.', ';', '%',
		// '*', '!') made ShownPath see a file name, not a secret: the word
		// was kept whole (seen with the real binary).
		{"duration, dot after", head + pol + "    grace_period: 1h/SECRET.x\n" + sink, ":8: policies[0].grace_period:"},
		{"duration, star after", head + pol + "    grace_period: 1h/SECRET*\n" + sink, ":8: policies[0].grace_period:"},
		{"every, semicolon after", head + pol + "    schedule: \"@every 1h/SECRET;\"\n" + sink, ":8: policies[0].schedule:"},
		{"time zone, dot after", head + pol + "    schedule: \"TZ=Europe/SECRET.x 0 3 * * *\"\n" + sink, ":8: policies[0].schedule:"},
		{"namespace, dot after", head + pol + "    sinks:\n      - {type: kubernetes, namespace: a/SECRET.b, name: \"{{.Name}}\"}\n", ":9: policies[0].sinks[0].namespace:"},
		{"label value, dot after", head + pol + "    sinks:\n      - {type: kubernetes, namespace: a, name: \"{{.Name}}\", labels: {a: /SECRET.x}}\n", ":9: policies[0].sinks[0].labels:"},
	} {
		file := writePolicy(t, strings.ReplaceAll(c.body, "SECRET", sec))
		_, _, err := Validate(file, ValidateOptions{Getenv: env(nil)})
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
