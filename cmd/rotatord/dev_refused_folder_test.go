package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A folder dev refuses (another program's state/, no marker) stays
// refused when dev is run there again: the first refusal must not leave
// the marker that makes the folder dev's, or the second run removes the
// other program's state and its credential files.
func TestDevRefusesAnotherProgramsFolderAgain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "project")
	record := filepath.Join(dir, "state", "records", "precious")
	cred := filepath.Join(dir, "out", "ci-runner.json")
	for _, f := range []string{record, cred} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := runDev(t, dir); err == nil || !strings.Contains(err.Error(), "not a demo folder") {
			t.Fatalf("dev, run %d: %v, want a refusal", i+1, err)
		}
	}
	for _, f := range []string{record, cred} {
		if b, err := os.ReadFile(f); err != nil || string(b) != "keep" {
			t.Errorf("dev, run twice, touched another program's %s: %q, %v", f, b, err)
		}
	}
}

// A folder that holds someone's policy.yml (and no state yet, and no
// marker of dev's) is not dev's to write: dev refuses it rather than
// replace that file with its demo's.
func TestDevLeavesAnotherProgramsPolicyFileAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc-rotatord")
	policy := filepath.Join(dir, "policy.yml")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policy, []byte("exoscale: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runDev(t, dir)
	if b, rerr := os.ReadFile(policy); rerr != nil || string(b) != "exoscale: {}\n" {
		t.Errorf("dev (%v) replaced the policy.yml it did not write: %.40q, %v", err, b, rerr)
	}
}
