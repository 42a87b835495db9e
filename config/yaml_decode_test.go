package config

import (
	"strings"
	"testing"
)

// TestFractionalCountsRefused: yaml.v3 decodes a float into an int
// field by truncating it, so `concurrency: 2.5` loads as 2 and
// `max_retries: 3.9` as 3, silently, and `rotatord validate` says "valid".
// The JSON schema (type: integer) rejects both, so the editor and the
// loader disagree, and the value run uses is not the one written. Fix:
// refuse a non-integer scalar for int fields (check the node's tag is
// !!int, or decode these fields through a type with UnmarshalYAML like
// Duration).
func TestFractionalCountsRefused(t *testing.T) {
	for _, field := range []string{"concurrency: 2.5", "max_retries: 3.9"} {
		doc := "exoscale:\n  " + field + "\npolicies:\n  - name: ci\n    match: {name: ci-*}\n    sinks: [{type: file, path: '/tmp/{{.Name}}'}]\n"
		cfg, err := Parse([]byte(doc), "f.yml", "/tmp")
		if err == nil {
			t.Errorf("%s: accepted (concurrency %d, max_retries %d): a fractional count is silently truncated",
				field, cfg.Exoscale.Concurrency, cfg.Exoscale.MaxRetries)
		}
	}
}

// TestFlowStyleProblemsNameTheField: a problem found while decoding
// a value written in YAML flow style ({...}) loses its field path, so with
// several fields on one line the message does not say which one is wrong:
// `exoscale: {timeout: 30s, rate_limit: abc}` gives
// "f.yml:1: want a number, got \"abc\"" (block style gives
// "exoscale.rate_limit: want a number ..."), and a flow sink gives
// "invalid mode ..." without policies[0].sinks[0].mode. The issue asks for
// every problem in the file's terms. Fix: locate the node by line and
// column (yaml.v3's errors give the line only; walk the flow mapping's
// children for the offending value) or decode field by field.
func TestFlowStyleProblemsNameTheField(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"exoscale: {timeout: 30s, rate_limit: abc}\npolicies:\n  - name: ci\n    match: {name: ci-*}\n    sinks: [{type: file, path: '/tmp/{{.Name}}'}]\n", "exoscale.rate_limit"},
		{"policies:\n  - name: ci\n    match: {name: ci-*}\n    sinks: [{type: file, path: '/tmp/{{.Name}}', mode: 0x180}]\n", "policies[0].sinks[0].mode"},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want a problem naming %s, got %v", c.want, err)
		}
	}
}

// TestHugeCountReportedOnce: a count too large for an integer
// (`max_retries: 99999999999999999999`, which YAML reads as a float) was
// reported twice, once quoted and once not: one message per problem.
func TestHugeCountReportedOnce(t *testing.T) {
	doc := "exoscale:\n  api_key: EXO0123456789abcdef01234567\n  api_secret: s3cr3t\n  max_retries: 99999999999999999999\npolicies:\n  - name: ci\n    match: {name: ci-*}\n    sinks: [{type: file, path: '/tmp/{{.Name}}'}]\n"
	_, err := Parse([]byte(doc), "f.yml", "/tmp")
	if err == nil || strings.Count(err.Error(), "max_retries") != 1 {
		t.Errorf("want one problem with max_retries, got:\n%v", err)
	}
}
