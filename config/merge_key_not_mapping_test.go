package config

import (
	"strings"
	"testing"
)

// TestMergeKeyOfAStringIsOneProblem: a merge key whose value is not a
// mapping (`<<: just-a-string`) stops yaml.v3's decoding where it is met,
// with no line ("map merge requires map or sequence of maps as the
// value"); what had not decoded yet was then validated as missing ("at
// least one sink is required" for a policy that has one). It is one
// problem, on its line; what did not decode is not judged.
func TestMergeKeyOfAStringIsOneProblem(t *testing.T) {
	doc := `exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: supersecretvalue0123456789abcdefghijkl}
policies:
  - name: a
    match: {name: a-*}
    sinks: [{type: file, path: '/tmp/a/{{.Name}}'}]
  - <<: just-a-string
    name: b
    match: {name: b-*}
    sinks: [{type: file, path: '/tmp/b/{{.Name}}'}]
`
	_, err := Parse([]byte(doc), "f.yml", "/tmp")
	if err == nil {
		t.Fatal("accepted")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != 1 || !strings.HasPrefix(got[0], "f.yml:6: policies[1].<<: ") || !strings.Contains(got[0], "merge") {
		t.Errorf("want one problem on line 6 about the merge key, got:\n%s", err)
	}
}
