package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSinkNeverTakesOverAFileMarkedByTheCredentialStore: a credential store
// (policy _self, _self-NAME) marks the file it writes. A policy's sink that
// reaches that file through a spelling neither its path nor its device and
// inode give away (a FUSE mirror such as bindfs, a second NFS mount: another
// st_dev; here: no Protect list at all) refuses it, take_over or not, at
// Check, Probe and Write, and the file keeps the store's credential.
func TestSinkNeverTakesOverAFileMarkedByTheCredentialStore(t *testing.T) {
	dir := t.TempDir()
	for _, self := range []string{"_self", "_self-staging"} {
		t.Run(self, func(t *testing.T) {
			store := newSink(t, dir, FormatJSON, func(o *Options) {
				o.Path = pathTemplate(t, filepath.Join(dir, "credential.json"))
				o.Mode = 0o600
				o.TakeOver = true
				o.Policy = self
			})
			own := cred("", "EXOaaaaaaaaaaaaaaaaaaaaaaaa", testSecret)
			if err := store.Write(context.Background(), own); err != nil {
				t.Fatalf("store write: %v", err)
			}
			if m := markerOf(t, filepath.Join(dir, "credential.json")); m == "" {
				t.Skipf("%s keeps no extended attribute", dir)
			}
			want := readString(t, filepath.Join(dir, "credential.json"))

			app := newSink(t, dir, FormatJSON, func(o *Options) {
				o.Path = pathTemplate(t, dir+"/{{.Name}}")
				o.TakeOver = true
				o.Policy = "app"
			})
			ctx := context.Background()
			for op, err := range map[string]error{
				"check": app.Check(ctx, "credential.json"),
				"probe": app.Probe(ctx, "credential.json"),
				"write": app.Write(ctx, cred("credential.json", "EXO0123456789abcdef01234567", testSecret)),
			} {
				if !errors.Is(err, ErrProtected) {
					t.Errorf("%s: %v, want %v", op, err, ErrProtected)
				}
			}
			if got := readString(t, filepath.Join(dir, "credential.json")); got != want {
				t.Fatalf("the credential file was replaced (%d bytes, want %d)", len(got), len(want))
			}
			// The store itself still writes its file.
			if err := store.Write(ctx, own); err != nil {
				t.Fatalf("store rewrite: %v", err)
			}
		})
	}
}

func markerOf(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := readMarker(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSinkNeverTakesOverAFileHoldingRotatordsKey: a file with no marker
// (rotatord's api_key_file, read-only to it; a credential file on a file
// system without extended attributes) reached through a spelling on
// another device is known by what it holds: a sink with take_over refuses
// a file holding a key id rotatord signs with (Options.OwnKeys), and
// replaces one holding another key.
func TestSinkNeverTakesOverAFileHoldingRotatordsKey(t *testing.T) {
	dir := t.TempDir()
	const own = "EXOaaaaaaaaaaaaaaaaaaaaaaaa"
	keyFile := filepath.Join(dir, "api_key")
	if err := os.WriteFile(keyFile, []byte(own+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("EXObbbbbbbbbbbbbbbbbbbbbbbb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := newSink(t, dir, FormatEnv, func(o *Options) {
		o.Path = pathTemplate(t, dir+"/{{.Name}}")
		o.TakeOver = true
		o.Policy = "app"
		o.OwnKeys = func() []string { return []string{"", own} }
	})
	ctx := context.Background()
	for op, err := range map[string]error{
		"check": app.Check(ctx, "api_key"),
		"probe": app.Probe(ctx, "api_key"),
		"write": app.Write(ctx, cred("api_key", "EXO0123456789abcdef01234567", testSecret)),
	} {
		if !errors.Is(err, ErrProtected) {
			t.Errorf("%s: %v, want %v", op, err, ErrProtected)
		}
	}
	if got := readString(t, keyFile); got != own+"\n" {
		t.Fatalf("the key file was replaced (%d bytes)", len(got))
	}
	if err := app.Write(ctx, cred("other", "EXO0123456789abcdef01234567", testSecret)); err != nil {
		t.Fatalf("write over another key's file: %v", err)
	}
}
