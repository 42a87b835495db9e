package main

import (
	"strings"
	"testing"
)

// TestLogLevelInAnyCase: the Prometheus tools read --log.level in any
// case (promslog lower-cases it: --log.level=DEBUG works for Prometheus,
// Alertmanager and node_exporter); rotatord refused DEBUG or Info as a
// usage error (exit 2), so a unit or a Helm value copied from them did
// not start it. A level that is none of them is still refused.
func TestLogLevelInAnyCase(t *testing.T) {
	for _, lvl := range []string{"DEBUG", "Info", "WARN", "Error"} {
		code, _, stderr := runCLI("plan", "--config.file", "/nonexistent/rotatord.yml", "--log.level", lvl)
		if code == 2 || strings.Contains(stderr, "log.level") {
			t.Errorf("--log.level %s refused (exit %d): %s", lvl, code, stderr)
		}
	}
	code, _, stderr := runCLI("plan", "--config.file", "/nonexistent/rotatord.yml", "--log.level", "verbose")
	if code != 2 || !strings.Contains(stderr, `--log.level "verbose": want debug, info, warn, error`) {
		t.Errorf("--log.level verbose: exit %d, %s", code, stderr)
	}
}
