package config

// h-audit13: two accounts' credential_file spelled apart but one file.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateRefusesOneCredentialFileUnderTwoSpellings: two accounts
// whose credential_file strings differ but name one file (through a
// symlinked directory, or a hard link) share one credential: run then
// fails every pass of both accounts ("the two accounts are one
// organization"), and with own_key each would rotate the other's
// credential. validate compared the cleaned strings only and said valid.
func TestValidateRefusesOneCredentialFileUnderTwoSpellings(t *testing.T) {
	for _, how := range []string{"symlinked directory", "hard link"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			credDir := filepath.Join(dir, "cred")
			if err := os.Mkdir(credDir, 0o700); err != nil {
				t.Fatal(err)
			}
			cred := filepath.Join(credDir, "rotatord.json")
			if err := os.WriteFile(cred, []byte(`{"api_key": "EXO0123456789abcdef01234567", "api_secret": "`+strings.Repeat("x", 43)+`"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			other := ""
			switch how {
			case "symlinked directory":
				if err := os.Symlink(credDir, filepath.Join(dir, "link")); err != nil {
					t.Fatal(err)
				}
				other = filepath.Join(dir, "link", "rotatord.json")
			case "hard link":
				other = filepath.Join(credDir, "staging.json")
				if err := os.Link(cred, other); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "rotatord.yml")
			if err := os.WriteFile(path, []byte(`exoscale:
  credential_file: `+cred+`
  own_key: {max_age: 7d}
accounts:
  - name: staging
    credential_file: `+other+`
    own_key: {max_age: 7d}
state_dir: `+filepath.Join(dir, "state")+`
`), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: func(string) string { return "" }})
			if err == nil {
				t.Fatalf("validate accepts %s and %s (one file) as the credential files of two accounts", cred, other)
			}
			if msg := err.Error(); !strings.Contains(msg, "accounts[0].credential_file") || !strings.Contains(msg, "same file") {
				t.Errorf("got %v, want an error on accounts[0].credential_file saying it is the same file as exoscale's", err)
			}
		})
	}
}
