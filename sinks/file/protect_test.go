package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProtectedPathsAreNeverWritten: whatever a key's name renders to, a
// sink never writes a protected file (rotatord's credential file) nor
// inside a protected directory (its state directory): not by the same
// path, nor through a symlinked directory on either side, nor through a
// hard link. Paths beside them are written as usual.
func TestProtectedPathsAreNeverWritten(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"real", "state/sub", "other", "out"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	credPath := filepath.Join(root, "real", "cred.json")
	const credText = `{"api_key":"EXOaaaaaaaaaaaaaaaaaaaaaaaa","api_secret":"admin-secret"}`
	if err := os.WriteFile(credPath, []byte(credText), 0o600); err != nil {
		t.Fatal(err)
	}
	credIno := inode(t, credPath)
	for link, to := range map[string]string{"link": "real", "slink": "state"} {
		if err := os.Symlink(to, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(credPath, filepath.Join(root, "other", "hard.json")); err != nil {
		t.Fatal(err)
	}
	credFile := Protected{Path: credPath, What: "the credential_file of account default"}
	stateDir := Protected{Path: filepath.Join(root, "state"), Dir: true, What: "rotatord's state_dir"}

	tests := []struct {
		desc    string
		dir     string // the sink's directory, under root
		name    string // the key name: the target is dir/name.json
		protect Protected
		refused bool
	}{
		{"the credential file itself", "real", "cred", credFile, true},
		{"the credential file through a symlinked directory", "link", "cred", credFile, true},
		{"the credential file named through a symlinked directory", "real", "cred",
			Protected{Path: filepath.Join(root, "link", "cred.json"), What: credFile.What}, true},
		{"a hard link to the credential file", "other", "hard", credFile, true},
		{"beside the credential file", "real", "other", credFile, false},
		{"in the state directory", "state", "x", stateDir, true},
		{"beneath the state directory through a symlink", "slink/sub", "x", stateDir, true},
		{"beneath the state directory named through a symlink", "state/sub", "x",
			Protected{Path: filepath.Join(root, "slink"), Dir: true, What: stateDir.What}, true},
		{"beside the state directory, by a name it prefixes", ".", "state", stateDir, false},
		{"elsewhere", "out", "cred", credFile, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := filepath.Clean(filepath.Join(root, tt.dir))
			s := newSink(t, dir, FormatJSON, func(o *Options) {
				o.Path = pathTemplate(t, dir+"/{{.Name}}.json")
				o.TakeOver = true
				o.Protect = []Protected{tt.protect}
			})
			target := filepath.Join(dir, tt.name+".json")
			perr := s.Probe(context.Background(), tt.name)
			werr := s.Write(context.Background(), cred(tt.name, "EXO0123456789abcdef01234567", testSecret))
			if !tt.refused {
				if perr != nil || werr != nil {
					t.Fatalf("probe: %v, write: %v; want both to succeed", perr, werr)
				}
				os.Remove(target)
				return
			}
			for op, err := range map[string]error{"probe": perr, "write": werr} {
				if !errors.Is(err, ErrProtected) {
					t.Errorf("%s %s: %v, want %v", op, target, err, ErrProtected)
				}
			}
			if got := readString(t, credPath); got != credText || inode(t, credPath) != credIno {
				t.Fatalf("the credential file was replaced: it holds %q", got)
			}
			if _, err := os.Stat(filepath.Join(root, "state", "x.json")); err == nil {
				t.Error("a file was written in the state directory")
			}
			if _, err := os.Stat(filepath.Join(root, "state", "sub", "x.json")); err == nil {
				t.Error("a file was written beneath the state directory")
			}
		})
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Ino)
}
