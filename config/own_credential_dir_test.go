package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateRefusesACredentialDirectoryRunRefuses: with own_key, run
// reads the credential file through the file sink's rules and refuses a
// directory every user may write (anyone could plant a file or symlink
// at the credential's name). validate, which exits 1 when run would
// refuse the file, must say so too, naming the field.
func TestValidateRefusesACredentialDirectoryRunRefuses(t *testing.T) {
	dir := t.TempDir()
	credDir := filepath.Join(dir, "cred")
	if err := os.Mkdir(credDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cred := filepath.Join(credDir, "rotatord.json")
	if err := os.WriteFile(cred, []byte(`{"api_key": "EXO0123456789abcdef01234567", "api_secret": "`+strings.Repeat("x", 43)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(credDir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rotatord.yml")
	if err := os.WriteFile(path, []byte(`exoscale:
  credential_file: `+cred+`
  own_key: {max_age: 7d}
state_dir: `+filepath.Join(dir, "state")+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: func(string) string { return "" }})
	if err == nil {
		t.Fatal("validate accepts a credential file in a directory every user may write; run refuses it")
	}
	if msg := err.Error(); !strings.Contains(msg, "exoscale.credential_file") || !strings.Contains(msg, "writable by all users") {
		t.Errorf("got %v, want an error on exoscale.credential_file saying the directory is writable by all users", err)
	}
}
