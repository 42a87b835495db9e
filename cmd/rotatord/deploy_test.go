package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDeployCommandLinesParse: the command lines the deploy files run are
// accepted by this CLI, and the systemd unit and the Kubernetes Deployment
// use the current spellings, not the hidden old ones.
func TestDeployCommandLinesParse(t *testing.T) {
	unit, err := os.ReadFile("../../deploy/systemd/rotatord.service")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	for _, l := range strings.Split(string(unit), "\n") {
		for _, key := range []string{"ExecStart=", "ExecReload="} {
			if rest, ok := strings.CutPrefix(l, key); ok {
				if f := strings.Fields(rest); len(f) > 1 && strings.HasSuffix(f[0], "/rotatord") {
					lines = append(lines, f[1:])
				}
			}
		}
	}
	deployment, err := os.ReadFile("../../deploy/kubernetes/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+args: (\[.*\])$`).FindSubmatch(deployment)
	if m == nil {
		t.Fatal("deployment.yaml: no args: [...] line")
	}
	var args []string
	if err := json.Unmarshal(m[1], &args); err != nil {
		t.Fatalf("deployment.yaml args: %v", err)
	}
	lines = append(lines, args)
	if len(lines) != 3 {
		t.Fatalf("found %d rotatord command lines (ExecStart, ExecReload, args), want 3: %q", len(lines), lines)
	}
	hidden := map[string]bool{}
	for _, cmd := range newCLI(nil, nil).app.Model().Commands {
		for _, f := range cmd.Flags {
			if f.Hidden {
				hidden["--"+f.Name] = true
			}
		}
	}
	for _, l := range lines {
		c := newCLI(nil, nil)
		if _, err := c.app.Parse(l); err != nil {
			t.Errorf("rotatord %q: %v", l, err)
		}
		for _, a := range l {
			if name, _, _ := strings.Cut(a, "="); hidden[name] {
				t.Errorf("rotatord %q uses the old spelling %s", l, name)
			}
		}
	}
}
