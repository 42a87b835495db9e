package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// testTemplate is the content template of `format: template` sinks.
const testTemplate = `# {{.Name}} ({{.RoleID}})
key={{.APIKey}}
secret={{.APISecret}}
`

// parseSinkFile reads a credential back from a sink file of the given
// format, independently of rotatord's own parsers.
func parseSinkFile(data, format string) (credential, error) {
	var c credential
	switch format {
	case "json":
		var j struct {
			APIKey    string `json:"api_key"`
			APISecret string `json:"api_secret"`
		}
		if err := json.Unmarshal([]byte(data), &j); err != nil {
			return c, fmt.Errorf("json: %v", err)
		}
		c = credential{Key: j.APIKey, Secret: j.APISecret}
	case "env":
		for _, line := range strings.Split(data, "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "EXOSCALE_API_KEY":
				c.Key = v
			case "EXOSCALE_API_SECRET":
				c.Secret = v
			}
		}
	case "exoscale-toml":
		if !strings.Contains(data, "[[accounts]]") || !strings.Contains(data, "defaultAccount = ") {
			return c, fmt.Errorf("exoscale-toml: no default account")
		}
		for _, line := range strings.Split(data, "\n") {
			k, v, ok := strings.Cut(line, " = ")
			if !ok {
				continue
			}
			s, err := strconv.Unquote(v)
			if err != nil {
				return c, fmt.Errorf("exoscale-toml: %s: %v", k, err)
			}
			switch k {
			case "key":
				c.Key = s
			case "secret":
				c.Secret = s
			}
		}
	case "template":
		for _, line := range strings.Split(data, "\n") {
			if v, ok := strings.CutPrefix(line, "key="); ok {
				c.Key = v
			}
			if v, ok := strings.CutPrefix(line, "secret="); ok {
				c.Secret = v
			}
		}
	default:
		return c, fmt.Errorf("unknown format %q", format)
	}
	if c.Key == "" || c.Secret == "" {
		return c, fmt.Errorf("%s: no key id or secret in %d bytes", format, len(data))
	}
	return c, nil
}

// readSink returns the credential a sink file holds, and false when the
// file does not exist.
func readSink(t *testing.T, path, format string) (credential, bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return credential{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseSinkFile(string(data), format)
	if err != nil {
		t.Fatalf("sink file %s: %v", path, err)
	}
	return c, true
}

// checkSink requires the sink file to exist with mode, hold a live key of
// name, and that key with its secret to authenticate. It returns the key id.
func (e *env) checkSink(path, format, name string, mode os.FileMode) string {
	t := e.t
	t.Helper()
	c, ok := readSink(t, path, format)
	if !ok {
		t.Fatalf("sink file %s does not exist", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("sink file %s: mode %#o, want %#o", path, fi.Mode().Perm(), mode)
	}
	k, ok := e.sim.key(c.Key)
	switch {
	case !ok:
		t.Errorf("sink file %s holds key %s, unknown to the simulator", path, c.Key)
	case !k.Alive:
		t.Errorf("sink file %s holds key %s, which was deleted", path, c.Key)
	case k.Name != name:
		t.Errorf("sink file %s holds key %s named %q, want %q", path, c.Key, k.Name, name)
	}
	if !e.sim.authenticates(c.Key, c.Secret) {
		t.Errorf("sink file %s: key %s and its secret do not authenticate", path, c.Key)
	}
	return c.Key
}
