package config

import "testing"

// TestRelativeSinkPathWithDots: relative paths resolve against the policy
// file's directory, yet a file sink's `path: ./out/{{.Name}}.json` (or
// `../out/...`) was refused at load with "renders unclean path
// \"/etc/rotatord/./out/example.json\"": a path the operator never wrote,
// for a spelling every shell accepts. The directory part before the first
// template action is cleaned as it is resolved.
func TestRelativeSinkPathWithDots(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"./out/{{.Name}}.json", "/srv/conf/out/{{.Name}}.json"},
		{"../out/{{.Name}}.json", "/srv/out/{{.Name}}.json"},
		{"out/./x/{{.Name}}.json", "/srv/conf/out/x/{{.Name}}.json"},
		{"./{{.Name}}.json", "/srv/conf/{{.Name}}.json"},
		{"out/{{.Name}}.json", "/srv/conf/out/{{.Name}}.json"},
	} {
		doc := "exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s3cr3t}\npolicies:\n  - name: ci\n    match: {name: ci-*}\n    sinks:\n      - type: file\n        path: \"" + c.path + "\"\n"
		cfg, err := Parse([]byte(doc), "f.yml", "/srv/conf")
		if err != nil {
			t.Errorf("path %s: %v", c.path, err)
			continue
		}
		if got := cfg.Policies[0].Sinks[0].Path; got != c.want {
			t.Errorf("path %s resolves to %s, want %s", c.path, got, c.want)
		}
	}
}
