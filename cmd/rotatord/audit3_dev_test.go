package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12 (rotatord dev, the new user's first stop): running the demo a
// second time in the same folder (the default --dir rotatord-dev), after
// stopping the first while a rotation's grace period ran, gives a demo
// that never rotates again: the new simulator has new keys, the state
// directory still holds the old simulator's rotation, and every pass
// fails with "confirm new key before deleting old keys: the API does not
// show key ... yet" (failed: 2, rotated: 0) for as long as it runs.
func TestAudit3DevRunTwiceInTheSameFolderKeepsRotating(t *testing.T) {
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
