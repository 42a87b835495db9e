package main

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevBannerCommandsSurviveASpaceInTheFolder: the banner's commands to
// try are meant to be pasted into a shell, but a demo folder whose path
// holds a space (a checkout under "~/My Projects") printed
// "--config.file /home/x/My Projects/rotatord-dev/policy.yml", which a
// shell splits into two arguments.
func TestDevBannerCommandsSurviveASpaceInTheFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my demo's folder")
	var out bytes.Buffer
	if err := cmdDev([]string{"--dir", dir, "--duration", "1ms", "--web.listen-address", "127.0.0.1:0", "--log.level", "error"}, &out, io.Discard); err != nil {
		t.Fatalf("dev: %v", err)
	}
	want := map[string]string{
		"plan":     filepath.Join(dir, "policy.yml"),
		"validate": filepath.Join(dir, "policy.yml"),
		"once":     filepath.Join(dir, "once.yml"),
	}
	found := 0
	for _, line := range strings.Split(out.String(), "\n") {
		for cmd, file := range want {
			if !strings.Contains(line, " "+cmd+" ") {
				continue
			}
			found++
			// The words a shell makes of the line as printed.
			words, err := exec.Command("sh", "-c", `eval "set -- $1"; for w in "$@"; do printf '%s\n' "$w"; done`, "sh", strings.TrimSpace(line)).Output()
			if err != nil {
				t.Fatalf("sh cannot parse %q: %v", line, err)
			}
			if !strings.Contains("\n"+string(words), "\n"+file+"\n") {
				t.Errorf("%s: the shell reads %q as the words\n%s\nwant one word %q", cmd, line, words, file)
			}
		}
	}
	if found != len(want) {
		t.Errorf("found %d of the %d commands in the banner:\n%s", found, len(want), out.String())
	}
}
