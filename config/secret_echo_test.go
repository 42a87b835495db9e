package config

import (
	"encoding/base64"
	"strings"
	"testing"
)

// A secret pasted into any field of the policy file, or written as an
// alias or a key, must not be quoted whole by validate, a refused start
// or the log of a refused reload: every problem is cut as a misplaced
// value is (maxEcho), and still names its line and field. Each group of
// cases below was seen quoting the secret whole with the real binary:
//
//   - rotatord's own messages (a duration, an endpoint, a glob, a
//     schedule and its time zone, a path template, a mode, a namespace, a
//     role id) and yaml.v3's (an unknown alias, a key set twice);
//   - a secret after a '/' in a value that is no path (a long word after
//     '/' was left to ShownPath, which these messages never go through),
//     also with a character no base64 has after it ('.', ';', '*'), which
//     made ShownPath see a file name;
//   - a secret written as a directory, with a name after it that made
//     the rest no secret to ShownPath (1h/SECRET/a.b; a credential file's
//     path so written: TestASecretAsADirectoryIsNotQuotedWhole);
//   - a secret written with escapes or broken by an escaped line break
//     (no 25 of its characters in a row in the file's bytes);
//   - a secret written as !!binary (decoded before it reaches a message:
//     nowhere in the file).
func TestASecretIsNotQuotedWholeAnywhere(t *testing.T) {
	const sec = "Sx3kQ9vLm2Rt7YpWn4Zb8HcJd5Fg1Ks6Ae0Ui3Oy7TQ"
	const head = "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  api_secret: s\n"
	const pol = "policies:\n  - name: ci\n    match: {name: \"ci-*\"}\n"
	const sink = "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n"
	kube := func(fields string) string {
		return head + pol + "    sinks:\n      - {type: kubernetes, " + fields + "}\n"
	}
	var escaped strings.Builder
	for _, r := range sec {
		escaped.WriteString(`\x` + strings.ToLower(string("0123456789ABCDEF"[r>>4])+string("0123456789ABCDEF"[r&15])))
	}
	binary := "!!binary " + base64.StdEncoding.EncodeToString([]byte(sec))

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
		{"namespace", kube(`namespace: SECRET, name: "{{.Name}}"`), ":9: policies[0].sinks[0].namespace:"},
		{"role id", head + strings.Replace(pol, `{name: "ci-*"}`, `{name: "ci-*", role_id: SECRET}`, 1) + sink, ":7: policies[0].match.role_id:"},
		{"unknown alias", strings.Replace(head, "api_secret: s", "api_secret: *SECRET", 1) + pol + sink, ":4:"},
		{"key twice", head + "SECRET: 1\nSECRET: 2\n" + pol + sink, ":6:"},

		{"after a slash: duration", head + pol + "    grace_period: 1h/SECRET\n" + sink, ":8: policies[0].grace_period:"},
		{"after a slash: every", head + pol + "    schedule: \"@every 1h/SECRET\"\n" + sink, ":8: policies[0].schedule:"},
		{"after a slash: schedule step", head + pol + "    schedule: \"0 3 * * */SECRET\"\n" + sink, ":8: policies[0].schedule:"},
		{"after a slash: time zone", head + pol + "    schedule: \"TZ=Europe/SECRET 0 3 * * *\"\n" + sink, ":8: policies[0].schedule:"},
		{"after a slash: namespace", kube(`namespace: a/SECRET, name: "{{.Name}}"`), ":9: policies[0].sinks[0].namespace:"},
		{"after a slash: label value", kube(`namespace: a, name: "{{.Name}}", labels: {a: /SECRET}`), ":9: policies[0].sinks[0].labels:"},
		{"after a slash: label name", kube(`namespace: a, name: "{{.Name}}", labels: {"example.com/SECRET": "x/"}`), ":9: policies[0].sinks[0].labels:"},
		{"after a slash, dot after: duration", head + pol + "    grace_period: 1h/SECRET.x\n" + sink, ":8: policies[0].grace_period:"},
		{"after a slash, star after: duration", head + pol + "    grace_period: 1h/SECRET*\n" + sink, ":8: policies[0].grace_period:"},
		{"after a slash, semicolon after: every", head + pol + "    schedule: \"@every 1h/SECRET;\"\n" + sink, ":8: policies[0].schedule:"},
		{"after a slash, dot after: time zone", head + pol + "    schedule: \"TZ=Europe/SECRET.x 0 3 * * *\"\n" + sink, ":8: policies[0].schedule:"},
		{"after a slash, dot after: namespace", kube(`namespace: a/SECRET.b, name: "{{.Name}}"`), ":9: policies[0].sinks[0].namespace:"},
		{"after a slash, dot after: label value", kube(`namespace: a, name: "{{.Name}}", labels: {a: /SECRET.x}`), ":9: policies[0].sinks[0].labels:"},

		{"between slashes: duration", head + pol + "    grace_period: 1h/SECRET/a.b\n" + sink, ":8: policies[0].grace_period:"},
		{"between slashes: time zone", head + pol + "    schedule: \"TZ=Europe/SECRET/x.y 0 3 * * *\"\n" + sink, ":8: policies[0].schedule:"},

		{"escaped line break", head + pol + "    grace_period: \"" + sec[:21] + "\\\n      " + sec[21:] + "\"\n" + sink, ":8: policies[0].grace_period:"},
		{"escapes", head + pol + "    grace_period: \"" + escaped.String() + "\"\n" + sink, ":8: policies[0].grace_period:"},

		{"binary namespace", kube(`namespace: ` + binary + `, name: "{{.Name}}"`), ":9: policies[0].sinks[0].namespace:"},
		{"binary policy name", head + pol + sink + "  - name: " + binary + "\n", ":10: policies[1].name:"},
	} {
		_, _, err := Validate(writePolicy(t, strings.ReplaceAll(c.body, "SECRET", sec)), ValidateOptions{Getenv: env(nil)})
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

// TestASecretAsADirectoryIsNotQuotedWhole: the policy file's secret moved
// into a credential file's path as a directory, with a name after it
// (/x/SECRET/a.b, or /x/SECRET/a when the secret has a '-'), was quoted
// whole by validate's "open ...: no such file" (seen with the real
// binary): ShownPath saw no secret in SECRET/a.b.
func TestASecretAsADirectoryIsNotQuotedWhole(t *testing.T) {
	const head = "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n"
	const pol = "policies:\n  - name: ci\n    match: {name: \"ci-*\"}\n    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n"
	for _, c := range []struct{ sec, after string }{
		{"Sx3kQ9vLm2Rt7YpWn4Zb8HcJd5Fg1Ks6Ae0Ui3Oy7TQ", "/a.b"},
		{"Sx3kQ9vLm2Rt7YpWn4Zb8Hc-d5Fg1Ks6Ae0Ui3Oy7TQ", "/a"},
	} {
		body := head + "  api_secret_file: /nonexistent/" + c.sec + c.after + "\n" + pol
		_, _, err := Validate(writePolicy(t, body), ValidateOptions{Host: true, Getenv: env(nil)})
		if err == nil {
			t.Fatalf("%s: want an error", c.after)
		}
		if strings.Contains(err.Error(), c.sec[maxEcho:]) {
			t.Errorf("the error quotes the secret whole: %v", err)
		}
		if !strings.Contains(err.Error(), ":4: exoscale.api_secret_file:") || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("the error does not say which file is missing: %v", err)
		}
	}
}
