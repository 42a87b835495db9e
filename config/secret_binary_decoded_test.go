package config

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// TestABinaryTaggedSecretIsNotShownDecoded: the policy file's secret
// tagged !!binary where it stands (a standard base64 one as it is, an
// Exoscale one without '-' or '_' with a '=' after it) is decoded by
// yaml.v3 into 32 bytes, which a message quoted ("\x4b\x1d\xe4C..." for a
// namespace): b7e5ffc cut long runs of base64 characters, which the
// quoted bytes are not, and re-encoding them gives the secret back (seen
// with the real binary). A !!binary value is now refused on its line
// before anything is decoded: every field of the policy file is text.
func TestABinaryTaggedSecretIsNotShownDecoded(t *testing.T) {
	const head = "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  api_secret: s\n"
	const pol = "policies:\n  - name: ci\n    match: {name: \"ci-*\"}\n"
	for _, sec := range []string{"Sx3kQ9vLm2Rt7YpWn4Zb8HcJd5Fg1Ks6Ae0Ui3Oy7TQ=", "q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0G/Fa1Ue3Io8w="} {
		raw, err := base64.StdEncoding.DecodeString(sec)
		if err != nil {
			t.Fatal(err)
		}
		quoted := strconv.Quote(string(raw))
		quoted = quoted[1 : len(quoted)-1]
		for _, c := range []struct{ name, body, want string }{
			{"namespace", head + pol + "    sinks:\n      - {type: kubernetes, namespace: !!binary \"" + sec + "\", name: \"{{.Name}}\"}\n", ":9:"},
			{"exclude", head + strings.Replace(pol, `{name: "ci-*"}`, `{name: "ci-*", exclude: [!!binary "`+sec+`"]}`, 1) + "    sinks:\n      - {type: file, path: \"out/{{.Name}}.json\"}\n", ":7:"},
		} {
			_, _, err := Validate(writePolicy(t, c.body), ValidateOptions{Getenv: env(nil)})
			if err == nil {
				t.Errorf("%s: valid, want !!binary refused", c.name)
				continue
			}
			msg := err.Error()
			for i := 0; i+8 <= len(raw); i++ {
				if strings.Contains(msg, string(raw[i:i+8])) {
					t.Errorf("%s: the error shows the decoded secret: %q", c.name, msg)
					break
				}
			}
			for i := 0; i+16 <= len(quoted); i++ {
				if strings.Contains(msg, quoted[i:i+16]) {
					t.Errorf("%s: the error shows the decoded secret, quoted: %v", c.name, msg)
					break
				}
			}
			if strings.Contains(msg, sec[maxEcho:]) {
				t.Errorf("%s: the error quotes the secret whole: %v", c.name, msg)
			}
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, "!!binary") {
				t.Errorf("%s: the error does not name the line %s and !!binary: %v", c.name, c.want, msg)
			}
		}
	}
}
