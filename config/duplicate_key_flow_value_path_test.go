package config

import (
	"strings"
	"testing"
)

// TestDuplicateKeyWithAFlowValueNamesItsField: a key written twice names
// its field ("policies[0].max_age: mapping key ...") unless the repeated
// key holds a flow mapping on its line (`match: {name: x-*}`) or is
// repeated inside one (`match: {name: a, name: b}`): then the problem had
// no field at all ("f.yml:5: mapping key "match" already defined at line
// 3"), as the line holds several keys.
func TestDuplicateKeyWithAFlowValueNamesItsField(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`policies:
  - name: a
    match: {name: "y-*"}
    sinks: [{type: file, path: "/tmp/{{.Name}}"}]
    match: {name: "x-*"}
`, `f.yml:5: policies[0].match: mapping key "match" already defined at line 3`},
		{`policies:
  - name: a
    match: {name: "y-*", name: "z-*"}
    sinks: [{type: file, path: "/tmp/{{.Name}}"}]
`, `f.yml:3: policies[0].match.name: mapping key "name" already defined at line 3`},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %s, got:\n%v", c.want, err)
		}
	}
}
