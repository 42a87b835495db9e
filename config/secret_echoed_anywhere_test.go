package config

import (
	"strings"
	"testing"
)

// A secret pasted into any field, or written as an alias or a key, was
// still quoted whole by rotatord's own messages (a duration, an endpoint,
// a glob, a schedule and its time zone, a path template, a mode, a
// namespace, a role id) and by yaml.v3's (an unknown alias, a key set
// twice): in validate's output, a refused start and the log of a refused
// reload. Every problem is now cut as a misplaced value is (maxEcho), and
// still names its line and field.
func TestASecretIsNotQuotedWholeAnywhere(t *testing.T) {
	const sec = "Sx3kQ9vLm2Rt7YpWn4Zb8HcJd5Fg1Ks6Ae0Ui3Oy7TQ"
	const head = "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  api_secret: s\n"
	const pol = "policies:\n  - name: ci\n    match: {name: \"ci-*\"}\n"
	const sink = "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n"
	for _, c := range []struct {
		name, body, want string
	}{
		{"duration", head + pol + "    grace_period: SECRET\n" + sink, ":8: policies[0].grace_period:"},
		{"endpoint", strings.Replace(head, "http://127.0.0.1:8080/v2", "SECRET", 1) + pol + sink, ":2: exoscale.endpoint:"},
		{"endpoint path", strings.Replace(head, "http://127.0.0.1:8080/v2", "http://x/SECRET", 1) + pol + sink, ":2: exoscale.endpoint:"},
		{"glob", head + strings.Replace(pol, `"ci-*"`, `"[SECRET"`, 1) + sink, ":7: policies[0].match.name:"},
		{"schedule", head + pol + "    schedule: SECRET\n" + sink, ":8: policies[0].schedule:"},
		{"schedule field", head + pol + "    schedule: \"0 3 * * SECRET\"\n" + sink, ":8: policies[0].schedule:"},
		{"time zone", head + pol + "    schedule: \"TZ=SECRET 0 3 * * *\"\n" + sink, ":8: policies[0].schedule:"},
		{"template field", head + pol + "    sinks:\n      - {type: file, path: \"out/{{.SECRET}}.json\"}\n", ":9: policies[0].sinks[0].path:"},
		{"template function", head + pol + "    sinks:\n      - {type: file, path: \"out/{{SECRET}}.json\"}\n", ":9: policies[0].sinks[0].path:"},
		{"mode", head + pol + "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\", mode: \"SECRET\"}\n", ":9: policies[0].sinks[0].mode:"},
		{"namespace", head + pol + "    sinks:\n      - {type: kubernetes, namespace: SECRET, name: \"{{.Name}}\"}\n", ":9: policies[0].sinks[0].namespace:"},
		{"role id", head + strings.Replace(pol, `{name: "ci-*"}`, `{name: "ci-*", role_id: SECRET}`, 1) + sink, ":7: policies[0].match.role_id:"},
		{"unknown alias", strings.Replace(head, "api_secret: s", "api_secret: *SECRET", 1) + pol + sink, ":4:"},
		{"key twice", head + "SECRET: 1\nSECRET: 2\n" + pol + sink, ":6:"},
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
