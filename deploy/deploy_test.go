package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rotatord/rotatord/config"
)

// promtoolVersion is the version scripts/tools/promtool builds.
const promtoolVersion = "v0.316.0"

// Environment variables that point the tests at their tools.
const (
	envPromtool     = "ROTATORD_PROMTOOL_BIN"
	envRequireTools = "ROTATORD_REQUIRE_TOOLS"
)

// readFile reads a file of this directory.
func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlDocs parses every document of a YAML file, leaving out empty ones
// (a file of comments only, a trailing ---).
func yamlDocs(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) > 0 && !(n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			docs = append(docs, &n)
		}
	}
}

// decodeYAML decodes a file that holds exactly one YAML document.
func decodeYAML(t *testing.T, name string, v any) {
	t.Helper()
	docs, err := yamlDocs(readFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", name, len(docs))
	}
	if err := docs[0].Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// parsePolicy parses a policy file with rotatord's own parser.
func parsePolicy(t *testing.T, data []byte, name string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(data, name, "/")
	if err != nil {
		t.Fatalf("%s is not a valid policy file:\n%v", name, err)
	}
	return cfg
}

// TestFilesParse parses every YAML and JSON file under deploy/.
func TestFilesParse(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			n++
			docs, err := yamlDocs(readFile(t, path))
			if err != nil {
				t.Errorf("%s: %v", path, err)
			} else if len(docs) == 0 {
				t.Errorf("%s: no YAML document", path)
			}
		case ".json":
			n++
			var v any
			if err := decodeJSON(readFile(t, path), &v); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("found %d YAML and JSON files, want at least 10: is the test running in deploy/?", n)
	}
}

// requireTools reports whether a missing tool is a failure (CI) rather
// than a reason to skip.
func requireTools() bool { return os.Getenv(envRequireTools) == "1" }

// missingTool skips the test, or fails it when the tools are required.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if requireTools() {
		t.Fatalf(format+" ("+envRequireTools+"=1)", args...)
	}
	t.Skipf(format, args...)
}

// promtool returns the promtool to run: $ROTATORD_PROMTOOL_BIN, else the
// one scripts/tools/promtool caches.
func promtool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: promtool not run")
	}
	if p := os.Getenv(envPromtool); p != "" {
		if !isExecutable(p) {
			t.Fatalf("%s=%s is not an executable file", envPromtool, p)
		}
		return p
	}
	cache := os.Getenv("ROTATORD_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				missingTool(t, "promtool: no %s and no home directory: %v", envPromtool, err)
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "rotatord")
	}
	p := filepath.Join(cache, "promtool-"+promtoolVersion, "promtool")
	if !isExecutable(p) {
		missingTool(t, "promtool not found: set %s or run scripts/tools/promtool", envPromtool)
	}
	return p
}

// systemdAnalyze returns the path of systemd-analyze.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: systemd-analyze not run")
	}
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		missingTool(t, "systemd-analyze not found (Debian: apt-get install systemd)")
	}
	return p
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// run runs a command and returns its combined output.
func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
