package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A password written where the map of users is wanted
// ("basic_auth_users: hunter2") makes the YAML library quote the value
// (whole up to 10 bytes, its first 7 beyond): neither the start-up error
// nor the toolkit's log line at each request after an edit (nor the TLS
// handshake's, through the server's ErrorLog) may carry it.
func TestWebConfigYAMLErrorsDoNotQuoteTheValue(t *testing.T) {
	for _, password := range []string{"pw1234", "hunter2-plain-text-password", "a` into b"} {
		path := filepath.Join(t.TempDir(), "web.yml")
		if err := os.WriteFile(path, []byte("basic_auth_users: \""+password+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		leaks := func(s string) bool {
			return strings.Contains(s, password[:min(len(password), 7)]) || strings.Contains(s, "b` into")
		}
		err := ValidateWebConfig(path)
		if err == nil || !strings.Contains(err.Error(), "line 1") || leaks(err.Error()) {
			t.Errorf("%q: start-up error %v: want it to name line 1, not the value", password, err)
		}

		raw := web.Validate(path) // the toolkit's error, as its handler logs it
		if raw == nil || !leaks(raw.Error()) {
			t.Fatalf("test premise: the toolkit's error %v quotes the value", raw)
		}
		lines := webErrorLines(raw)
		for _, line := range lines {
			if leaks(line) || !strings.Contains(line, "line 1") {
				t.Errorf("%q: logged %q: want line 1 named, not the value", password, line)
			}
		}
		if len(lines) != 2 {
			t.Errorf("%d lines logged, want 2", len(lines))
		}
	}
}

// webErrorLines logs raw, the toolkit's error about the web configuration
// file, as rotatord logs it: through the toolkit's handler at a request
// (zapHandler) and the server's ErrorLog at a TLS handshake
// (webErrorLog). It returns each line logged, its fields' strings
// appended.
func webErrorLines(raw error) []string {
	core, logs := observer.New(zap.DebugLevel)
	slog.New(zapHandler{log: zap.New(core)}).Error("Unable to parse configuration", "err", raw.Error())
	webErrorLog(zap.New(core)).Printf("http: TLS handshake error from 192.0.2.1:4242: %v", raw)
	var lines []string
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok {
				line += " " + k + "=" + s
			}
		}
		lines = append(lines, line)
	}
	return lines
}
