package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 11: "Quote or escape control characters in every human-facing
// output." An API (or whatever answers for it) whose error message carries
// ESC[2K and a carriage return: plan and once printed the pass's error
// line, `rotatord: list keys: ...`, with those bytes raw, so the terminal
// erased the line and showed what the server chose. The log writer escaped
// them; the final error line did not. A newline in the message must not
// start a line that looks like rotatord's own either.
func TestPassErrorLineEscapesControlCharacters(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"message":"bad\u001b[2K\rrotatord: every key rotated\nrotatord: all good"}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "rotatord.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`exoscale:
  endpoint: %s/v2
  api_key: EXOaaaaaaaaaaaaaaaaaaaaaaaa
  api_secret: not-a-secret-that-matters
  max_retries: 0
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - {type: file, path: "out/{{.Name}}.json"}
`, srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"plan", "once"} {
		code, stdout, stderr := runCLI(cmd, "--config.file", cfg)
		if code != 1 {
			t.Errorf("%s = %d, want 1 (stderr %q)", cmd, code, stderr)
		}
		if strings.ContainsAny(stdout+stderr, "\x1b\r") {
			t.Errorf("%s printed the server's control characters raw:\nstdout %q\nstderr %q", cmd, stdout, stderr)
		}
		if strings.Contains(stderr, "\nrotatord: all good") {
			t.Errorf("%s let the server's message start a line of its own:\n%s", cmd, stderr)
		}
	}
}
