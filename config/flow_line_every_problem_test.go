package config

import (
	"strings"
	"testing"
)

// TestFlowStyleLineReportsEveryProblem: a policy written on one line in
// flow style with a value that does not decode (grace_period: 1x) and
// other, unrelated mistakes on that line (a negative max_age, a
// world-readable mode, an unknown format) reported only the decoding
// problem: every validation problem on the line of a decoding problem was
// taken for its consequence. The same policy in block style reports all
// four, and validate must report every problem it can know in one run.
func TestFlowStyleLineReportsEveryProblem(t *testing.T) {
	doc := "exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s3cr3t}\n" +
		"policies:\n" +
		"  - {name: a, match: {name: \"a-*\"}, max_age: -1h, grace_period: 1x, sinks: [{type: file, path: \"/tmp/{{.Name}}.json\", mode: \"0644\", format: yaml, bogus: 1}]}\n"
	_, err := Parse([]byte(doc), "f.yml", "/tmp")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`f.yml:3: policies[0].grace_period: invalid duration "1x"`,
		`f.yml:3: policies[0].sinks[0].bogus: unknown field "bogus"`,
		`f.yml:3: policies[0].max_age: must be > 0, got -1h`,
		`f.yml:3: policies[0].sinks[0].mode: 0644 lets every user read`,
		`f.yml:3: policies[0].sinks[0].format: unknown format "yaml"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("want %s..., got:\n%s", want, err)
		}
	}
	// A value that did not decode is still reported once, not again as
	// the default it kept.
	if n := strings.Count(err.Error(), "grace_period"); n != 1 {
		t.Errorf("grace_period named %d times, want 1:\n%s", n, err)
	}
}
