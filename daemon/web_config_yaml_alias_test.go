package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/exporter-toolkit/web"
)

// A password written in plain text that YAML reads as something else
// than a string: one starting with '*' is an alias (the YAML library
// says "unknown anchor 'hunter2' referenced"), one after a tag is
// decoded as that type ("cannot decode !!str `hunter2` as a !!int").
// Both messages quote it whole: neither the start-up error (validate's
// and run's) nor the toolkit's log line at each request may carry it.
func TestWebConfigYAMLErrorsDoNotQuoteAPasswordReadAsAnAliasOrATaggedValue(t *testing.T) {
	const password = "hunter2Secret"
	for _, tc := range []struct{ yaml, want string }{
		{"basic_auth_users:\n  prometheus: *" + password + "\n", "quote"},
		{"basic_auth_users:\n  prometheus: !!int " + password + "\n", "!!int"},
		{"basic_auth_users:\n  prometheus: !!timestamp " + password + "\n", "!!timestamp"},
	} {
		path := filepath.Join(t.TempDir(), "web.yml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		raw := web.Validate(path)
		if raw == nil || !strings.Contains(raw.Error(), password) {
			t.Fatalf("test premise: the toolkit's error %v for %q quotes the value", raw, tc.yaml)
		}
		err := ValidateWebConfig(path)
		if err == nil || strings.Contains(err.Error(), password[:7]) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: start-up error %v: want one saying %q, without the value", tc.yaml, err, tc.want)
		}
		for _, line := range webErrorLines(raw) {
			if strings.Contains(line, password[:7]) {
				t.Errorf("%q: logged %q: want it without the value", tc.yaml, line)
			}
		}
	}
}
