package main

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestVersionFlagPrintsLikePrometheusTools: --version answers as the
// Prometheus tools' (node_exporter --version, promtool --version) do, the
// look issue 12 asks of the CLI: the version, branch and revision on the
// first line, then the Go version and the platform. The version command
// keeps its one short line for scripts.
func TestVersionFlagPrintsLikePrometheusTools(t *testing.T) {
	code, stdout, stderr := runCLI("--version")
	if code != 0 {
		t.Fatalf("--version = %d, want 0 (stderr %q)", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	first := regexp.MustCompile(`^rotatord, version \S+ \(branch: \S+, revision: \S+\)$`)
	if !first.MatchString(lines[0]) {
		t.Errorf("--version first line = %q, want %v", lines[0], first)
	}
	for _, want := range []string{
		"go version:", runtime.Version(),
		"platform:", runtime.GOOS + "/" + runtime.GOARCH,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--version output %q lacks %q", stdout, want)
		}
	}

	code, stdout, _ = runCLI("version")
	if code != 0 || !regexp.MustCompile(`^rotatord \S+\n$`).MatchString(stdout) {
		t.Errorf("version = %d %q, want 0 and one line \"rotatord VERSION\"", code, stdout)
	}
}
