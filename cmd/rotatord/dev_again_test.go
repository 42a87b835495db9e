package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12 (rotatord dev, the new user's first stop): running the demo a
// second time in the same folder (the default --dir rotatord-dev), after
// stopping the first while a rotation's grace period ran, gave a demo
// that never rotated again: the new simulator has new keys, the state
// directory still held the old simulator's rotation, and every pass
// failed with "confirm new key before deleting old keys: the API does not
// show key ... yet" (failed: 2, rotated: 0) for as long as it ran.
func TestDevRunTwiceInTheSameFolderKeepsRotating(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for about 20 s")
	}
	dir := filepath.Join(t.TempDir(), "rotatord-dev")
	var first bytes.Buffer
	if err := cmdDev([]string{"--dir", dir, "--duration", "3s", "--web.listen-address", "127.0.0.1:0", "--log.format", "json"}, &first, &first); err != nil {
		t.Fatalf("first dev: %v", err)
	}
	if !strings.Contains(first.String(), `"rotated":2`) {
		t.Fatalf("the first demo rotated nothing:\n%s", first.String())
	}
	var second bytes.Buffer
	if err := cmdDev([]string{"--dir", dir, "--duration", "17s", "--web.listen-address", "127.0.0.1:0", "--log.format", "json"}, &second, &second); err != nil {
		t.Fatalf("second dev: %v", err)
	}
	out := second.String()
	if strings.Contains(out, "deleting old keys failed") || !strings.Contains(out, `"rotated":2`) {
		t.Errorf("the second demo in the same folder fails its passes and rotates nothing:\n%s", lastLines(out, 8))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Each demo starts afresh in a folder dev made: the previous demo's
// journals and credential files (the old simulator's keys) are gone.
func TestDevStartsAfreshInItsFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rotatord-dev")
	if err := runDev(t, dir); err != nil {
		t.Fatalf("first dev: %v", err)
	}
	stale := []string{"out/ci-gone.json", "state/records/stale", "once-state/records/stale"}
	for _, name := range stale {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("old simulator"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := runDev(t, dir); err != nil {
		t.Fatalf("second dev: %v", err)
	}
	for _, name := range stale {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s outlived the demo that wrote it", name)
		}
	}
}

// A folder with a state directory but no policy.yml of dev's is another
// program's: dev refuses it, names it, and removes nothing.
func TestDevLeavesAnotherProgramsStateAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "project")
	record := filepath.Join(dir, "state", "records", "precious")
	if err := os.MkdirAll(filepath.Dir(record), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(record, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yml"), []byte("exoscale: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runDev(t, dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "not a demo folder") {
		t.Fatalf("dev = %v, want a refusal naming %s", err, dir)
	}
	if b, err := os.ReadFile(record); err != nil || string(b) != "keep" {
		t.Errorf("dev touched another program's state: %q, %v", b, err)
	}
}
