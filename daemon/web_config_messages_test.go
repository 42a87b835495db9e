package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The exporter toolkit's own messages name Go types ("field nope not
// found in type web.TLSConfig") and no user ("crypto/bcrypt: hashedSecret
// too short"): an operator reads the YAML, not the toolkit's source. The
// errors name the section and the user instead, and never the value of a
// hash that is not one (a password written in plain text).
func TestWebConfigErrorsNameTheFieldNotTheGoType(t *testing.T) {
	const password = "hunter2-plain-text-password"
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"unknown top-level field", "bogus: 1\n", []string{`line 1: unknown field "bogus" at the top level`}},
		{"unknown TLS field", "tls_server_config:\n  cert_file: c.pem\n  nope: 2\n", []string{`line 3: unknown field "nope" in tls_server_config`}},
		{"unknown HTTP field", "http_server_config:\n  http3: true\n", []string{`line 2: unknown field "http3" in http_server_config`}},
		{"plain-text password", "basic_auth_users:\n  prometheus: " + password + "\n", []string{`basic_auth_users.prometheus`, "bcrypt"}},
		// bcrypt quotes the first character of a value as long as a hash.
		{"long plain-text password", "basic_auth_users:\n  a: $2y$10$kGbQzNvCOnSuE.mu1XWzceqpAPORcYIVqSXUzHsYnYIkpUiJd7gHO\n  zed: " + strings.Repeat("q", 40) + password + "\n", []string{`basic_auth_users.zed`, "bcrypt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "web.yml")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := ValidateWebConfig(path)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range append(tc.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "type web.") || strings.Contains(msg, password) || strings.Contains(msg, "'q'") {
				t.Errorf("error %q names a Go type or the password", msg)
			}
		})
	}
}

// A user name is the operator's to choose, newlines and all: the error
// quotes one that is not a plain word, so it cannot forge a line of its
// own in a log or a terminal, nor read as a nested field ("a.b").
func TestWebConfigErrorQuotesAUserNameThatIsNotAWord(t *testing.T) {
	for name, want := range map[string]string{
		`"a\nlevel=error msg=forged"`: `basic_auth_users["a\nlevel=error msg=forged"]`,
		`a.b`:                         `basic_auth_users["a.b"]`,
		`"\e[2J"`:                     `basic_auth_users["\x1b[2J"]`,
		`prometheus`:                  `basic_auth_users.prometheus:`,
	} {
		path := filepath.Join(t.TempDir(), "web.yml")
		if err := os.WriteFile(path, []byte("basic_auth_users:\n  "+name+": not-a-hash\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := ValidateWebConfig(path)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "\x1b") {
			t.Errorf("user %s: %v, want it to say %s, on one line", name, err, want)
		}
	}
}

// Only bcrypt's own errors are its: "bcrypt" in a field name or a path
// is no hash refused.
func TestWebConfigErrorIsAboutBcryptOnlyForBcryptsErrors(t *testing.T) {
	for content, want := range map[string]string{
		"bcrypt: 1\n": `unknown field "bcrypt" at the top level`,
		"tls_server_config:\n  cert_file: bcrypt/c.pem\n  key_file: k.pem\n": "failed to read cert_file",
	} {
		path := filepath.Join(t.TempDir(), "web.yml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := ValidateWebConfig(path)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "basic_auth_users") {
			t.Errorf("%q: %v, want it to say %s", content, err, want)
		}
	}
}
