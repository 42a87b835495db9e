package config

import (
	"strings"
	"testing"
)

// TestFieldThatDidNotDecodeIsNotReportedAgainThroughASibling: a field
// that does not decode keeps its default, and a check of a sibling that
// reads it then reports a problem that is only its consequence:
// format: [template] (format stays json) made template "only for format
// template, but format is json"; allow_world_readable: [true] made mode
// 0644 "lets every user read"; auth.method: [approle] (method stays
// token) made secret_id_file "not used by method token". Each was
// reported in block style, and in flow style since each problem on a
// line is reported (43075d4). The decoding problem alone is the one to
// fix; unrelated problems on the same line are still reported.
func TestFieldThatDidNotDecodeIsNotReportedAgainThroughASibling(t *testing.T) {
	head := "exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s3cr3t}\npolicies:\n"
	for _, tc := range []struct {
		name, doc, decoded, consequence string
	}{
		{"format flow", `  - {name: a, match: {name: "a-*"}, sinks: [{type: file, path: "/tmp/{{.Name}}.t", format: [template], template: "x{{.Key}}"}]}` + "\n",
			"sinks[0].format: want a string", "sinks[0].template:"},
		{"format block", "  - name: a\n    match: {name: \"a-*\"}\n    sinks:\n      - type: file\n        path: \"/tmp/{{.Name}}.t\"\n        format: [template]\n        template: \"x{{.Key}}\"\n",
			"sinks[0].format: want a string", "sinks[0].template:"},
		{"allow_world_readable flow", `  - {name: a, match: {name: "a-*"}, sinks: [{type: file, path: "/tmp/{{.Name}}.t", mode: "0644", allow_world_readable: [true]}]}` + "\n",
			"sinks[0].allow_world_readable: want true or false", "sinks[0].mode:"},
		{"allow_world_readable block", "  - name: a\n    match: {name: \"a-*\"}\n    sinks:\n      - type: file\n        path: \"/tmp/{{.Name}}.t\"\n        mode: \"0644\"\n        allow_world_readable: [true]\n",
			"sinks[0].allow_world_readable: want true or false", "sinks[0].mode:"},
		{"auth.method flow", `  - {name: a, match: {name: "a-*"}, sinks: [{type: vault, path: "x/{{.Name}}", address: "https://v:8200", auth: {method: [approle], role_id: r, secret_id_file: /etc/s}}]}` + "\n",
			"sinks[0].auth.method: want a string", "sinks[0].auth.secret_id_file:"},
		{"auth.method block", "  - name: a\n    match: {name: \"a-*\"}\n    sinks:\n      - type: vault\n        path: \"x/{{.Name}}\"\n        address: \"https://v:8200\"\n        auth:\n          method: [approle]\n          role_id: r\n          secret_id_file: /etc/s\n",
			"sinks[0].auth.method: want a string", "sinks[0].auth.secret_id_file:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head+tc.doc), "f.yml", "/tmp")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.decoded) {
				t.Fatalf("want %s..., got:\n%s", tc.decoded, err)
			}
			if strings.Contains(err.Error(), tc.consequence) {
				t.Errorf("%s reported, a consequence of %s only:\n%s", tc.consequence, tc.decoded, err)
			}
		})
	}
}

// TestSiblingThatDidNotDecodeLeavesOwnValueProblems: a problem of a
// field's own value, which names no sibling, is not taken for a
// consequence of a sibling that did not decode.
func TestSiblingThatDidNotDecodeLeavesOwnValueProblems(t *testing.T) {
	doc := "exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s3cr3t}\npolicies:\n" +
		`  - {name: a, match: {name: "a-*"}, max_age: 1x, jitter: -1h, sinks: [{type: file, path: "/tmp/{{.Name}}.t", mode: "0666", allow_world_readable: [true]}]}` + "\n"
	_, err := Parse([]byte(doc), "f.yml", "/tmp")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"policies[0].max_age: invalid duration",
		"policies[0].jitter: must not be negative",
		"policies[0].sinks[0].allow_world_readable: want true or false",
		"policies[0].sinks[0].mode: 0666 is world-writable",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("want %s..., got:\n%s", want, err)
		}
	}
}
