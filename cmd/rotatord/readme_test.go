package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's command reference from the CLI's help")

// The README's command reference lies between these lines.
const (
	readmeBegin = "<!-- BEGIN rotatord help: generated from the CLI by `go generate ./cmd/rotatord`; a test checks it -->"
	readmeEnd   = "<!-- END rotatord help -->"
	readmePath  = "../../README.md"
)

// commandReference is the README's command reference: the output of
// `rotatord help` and of `rotatord help CMD` for every command, 80
// columns wide.
func commandReference(t *testing.T) string {
	t.Helper()
	t.Setenv("COLUMNS", "80")
	var b strings.Builder
	b.WriteString(readmeBegin + "\n\n")
	for _, args := range append([][]string{{"help"}}, helpArgs()...) {
		code, out, stderr := runCLI(args...)
		if code != 0 {
			t.Fatalf("rotatord %s = %d: %s", strings.Join(args, " "), code, stderr)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			lines = append(lines, strings.TrimRight(l, " "))
		}
		fmt.Fprintf(&b, "```\n$ rotatord %s\n%s\n```\n\n", strings.Join(args, " "), strings.Join(lines, "\n"))
	}
	b.WriteString(readmeEnd)
	return b.String()
}

func helpArgs() [][]string {
	var out [][]string
	for _, c := range commandNames {
		out = append(out, append([]string{"help"}, strings.Fields(c)...))
	}
	return out
}

// TestREADMECommandReference fails when the README's command reference and
// the CLI's help disagree; -update (go generate ./cmd/rotatord) rewrites it.
func TestREADMECommandReference(t *testing.T) {
	want := commandReference(t)
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, readmeBegin), strings.Index(readme, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no command reference between %q and %q", readmeBegin, readmeEnd)
	}
	got := readme[i : j+len(readmeEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(readmePath, []byte(readme[:i]+want+readme[j+len(readmeEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("README.md's command reference rewritten")
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for n := 0; n < max(len(gl), len(wl)); n++ {
		var g, w string
		if n < len(gl) {
			g = gl[n]
		}
		if n < len(wl) {
			w = wl[n]
		}
		if g != w {
			t.Fatalf("README.md's command reference differs from the CLI's help (run go generate ./cmd/rotatord), first at its line %d:\n README: %q\n    CLI: %q", n+1, g, w)
		}
	}
}
