package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The classic mistake, htpasswd's "user:password" written as it is
// ("basic_auth_users: {prometheus:hunter2}", or a line "prometheus:hunter2:"),
// or the two apart by a space, is a user with no hash whose name holds the
// password: the error names the user as far as the ':' or the space, never
// what follows.
func TestWebConfigErrorDoesNotQuoteAPasswordWrittenInTheUserName(t *testing.T) {
	const password = "hunter2Secret"
	for _, content := range []string{
		"basic_auth_users: {prometheus:" + password + "}\n",
		"basic_auth_users:\n  prometheus:" + password + ":\n",
		"basic_auth_users:\n  prometheus " + password + ":\n",
		"basic_auth_users:\n  \"prometheus\\t" + password + "\":\n",
	} {
		path := filepath.Join(t.TempDir(), "web.yml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := ValidateWebConfig(path)
		if err == nil || strings.Contains(err.Error(), password[:4]) || !strings.Contains(err.Error(), `"prometheus`) {
			t.Errorf("%q: %v; want an error naming the user prometheus, without the password", content, err)
		}
	}
}
