package schema

import (
	"testing"

	"github.com/rotatord/rotatord/config"
)

// TestSchemaAgreesOnFilesWithoutPolicies: a file that only rotates
// rotatord's own key (own_key in the exoscale block or in an account, no
// policy) is one the loader accepts, so the schema accepts it too; a file
// with neither a policy nor an own_key stays refused by both.
func TestSchemaAgreesOnFilesWithoutPolicies(t *testing.T) {
	s := compile(t)
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{"exoscale:\n  credential_file: /c.json\n  own_key: {max_age: 7d}\n", true},
		{"exoscale:\n  credential_file: /c.json\n  own_key: {}\npolicies: []\n", true},
		{"accounts:\n  - name: b\n    credential_file: /b.json\n    own_key: {}\n", true},
		{"exoscale:\n  credential_file: /c.json\n", false},
		{"exoscale:\n  credential_file: /c.json\npolicies: []\n", false},
		{"accounts:\n  - name: b\n    credential_file: /b.json\n", false},
	} {
		_, perr := config.Parse([]byte(tc.doc), "d.yml", "/")
		serr := s.Validate(instance(t, "d", []byte(tc.doc)))
		if (perr == nil) != tc.want || (serr == nil) != tc.want {
			t.Errorf("want valid=%v; loader error: %v; schema error: %v; for\n%s", tc.want, perr, serr, tc.doc)
		}
	}
}
