package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An api_secret_file every user of the host can read hands them the
// organization key rotatord signs with (usually the most powerful one):
// validate warned of a credential_file readable by others and of a
// world-readable Vault token_file, but said nothing of an api_secret_file
// of mode 0644. It warns on the field now; 0640 with a group is the way
// to share it and no warning.
func TestValidateWarnsOfAWorldReadableAPISecretFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode os.FileMode
		warn bool
	}{
		{"0644", 0o644, true},
		{"0604", 0o604, true},
		{"0640", 0o640, false},
		{"0600", 0o600, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := filepath.Join(dir, "api-secret")
			writeFileMode(t, f, "s3cr3t-value\n", tt.mode)
			got := hostWarningsOn(t, apiSecretFilePolicy(t, dir, f), "api_secret_file")
			if tt.warn && (len(got) != 1 || !strings.Contains(got[0], "exoscale.api_secret_file") || !strings.Contains(got[0], "every user")) {
				t.Errorf("warnings %q, want one on exoscale.api_secret_file saying every user can read it", got)
			}
			if !tt.warn && len(got) != 0 {
				t.Errorf("warnings %q, want none", got)
			}
			for _, w := range got {
				if strings.Contains(w, "s3cr3t") {
					t.Errorf("the warning shows the secret: %s", w)
				}
			}
		})
	}
}

// An api_key_file or api_secret_file another user owns, or in a directory
// another user owns (or every user may write without the sticky bit):
// that user can replace the credential rotatord signs with (with the key,
// point rotatord at another organization, whose keys it would then deliver
// to the consumers). validate said nothing; it warns now. Root's and
// rotatord's files in root's directories, and a sticky one such as a
// Kubernetes Secret volume, are no warning.
func TestValidateWarnsOfACredentialFileAnotherUserCanReplace(t *testing.T) {
	for _, tt := range []struct {
		name    string
		prepare func(t *testing.T, dir, f string)
		want    string // "" no warning
	}{
		{"own file", func(*testing.T, string, string) {}, ""},
		{"file another user owns", func(t *testing.T, _, f string) { lchown(t, f, 4242) }, "belongs to uid 4242"},
		{"directory another user owns", func(t *testing.T, dir, _ string) { lchown(t, dir, 4242) }, "belongs to uid 4242"},
		{"directory every user may write", func(t *testing.T, dir, _ string) { os.Chmod(dir, 0o777) }, "every user may write"},
		{"sticky directory every user may write", func(t *testing.T, dir, _ string) { os.Chmod(dir, 0o777|os.ModeSticky) }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "cred")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, "api-secret")
			if err := os.WriteFile(f, []byte("s3cr3t-value\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, dir, f)
			got := hostWarningsOn(t, apiSecretFilePolicy(t, base, f), "api_secret_file")
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("warnings %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], "exoscale.api_secret_file") || !strings.Contains(got[0], tt.want)):
				t.Errorf("warnings %q, want one on exoscale.api_secret_file saying %q", got, tt.want)
			}
		})
	}
}

func lchown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Lchown(p, uid, -1); err != nil {
		t.Skipf("cannot give %s to another user (needs root): %v", p, err)
	}
}

// writeFileMode writes content to f and gives it mode (after the write, so
// the umask does not narrow it).
func writeFileMode(t *testing.T, f, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, mode); err != nil {
		t.Fatal(err)
	}
}

// apiSecretFilePolicy writes dir/p.yml, a policy that reads the
// organization secret from f, and returns its path.
func apiSecretFilePolicy(t *testing.T, dir, f string) string {
	t.Helper()
	path := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(path, []byte(`exoscale:
  api_key: EXOabc
  api_secret_file: `+f+`
state_dir: `+filepath.Join(dir, "state")+`
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - type: file
        path: `+filepath.Join(dir, "{{.Name}}.json")+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hostWarningsOn validates path with the host checks and returns, as
// "path: message", the warnings whose path contains field.
func hostWarningsOn(t *testing.T, path, field string) []string {
	t.Helper()
	_, warnings, err := Validate(path, ValidateOptions{Host: true, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var got []string
	for _, w := range warnings {
		if strings.Contains(w.Path, field) {
			got = append(got, w.Path+": "+w.Msg)
		}
	}
	return got
}
