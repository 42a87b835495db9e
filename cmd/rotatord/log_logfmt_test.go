package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestLogFormatLogfmt: every Prometheus tool takes --log.format logfmt
// (its default) or json, and the issue asks for their flags; rotatord
// refused logfmt as a usage error, so a unit or a Helm value copied from
// node_exporter or Alertmanager did not start it. logfmt writes one
// key=value line per entry, quoting what needs it.
func TestLogFormatLogfmt(t *testing.T) {
	code, _, stderr := runCLI("plan", "--config.file", "/nonexistent/rotatord.yml", "--log.format", "logfmt")
	if code == 2 || strings.Contains(stderr, "log.format") {
		t.Fatalf("--log.format logfmt refused (exit %d): %s", code, stderr)
	}
	var buf bytes.Buffer
	log, err := (&logFlags{level: "info", format: "logfmt"}).logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Named("rotation").With(zap.String("policy", "ci")).Info("rotation due",
		zap.String("name", `ci "x" y=z`), zap.Int("n", 3), zap.Strings("ids", []string{"EXO1", "EXO2"}), zap.Bool("ok", true))
	log.Debug("not shown")
	line := buf.String()
	for _, want := range []string{
		"level=info ", " ts=", " logger=rotation ", ` msg="rotation due" `, " policy=ci ",
		` name="ci \"x\" y=z" `, " n=3 ", ` ids="[\"EXO1\",\"EXO2\"]" `, " ok=true\n",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("logfmt line lacks %q:\n%s", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 || strings.HasPrefix(line, "{") {
		t.Errorf("want one logfmt line, got:\n%s", line)
	}
}
