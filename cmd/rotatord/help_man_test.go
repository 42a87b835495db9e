package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// TestHelpManHeaderIsOneLine: every help says "also try --help-long and
// --help-man", but the man page's header put the multi-line --version
// text (the Prometheus tools' look: version, then Go version and
// platform on lines of their own) into the .TH request, which ended at
// the first line break and left "  go version: ..." as text before the
// page's first section. The .TH line must be whole: the line after it
// is a request. (kingpin writes the page to os.Stdout itself.)
func TestHelpManHeaderIsOneLine(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	code, _, stderr := runCLI("--help-man")
	os.Stdout = saved
	_ = w.Close()
	var page bytes.Buffer
	if _, err := io.Copy(&page, r); err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("--help-man = %d (stderr %q)", code, stderr)
	}
	lines := strings.Split(page.String(), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, ".TH ") {
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], ".") {
			t.Fatalf("the .TH header runs over lines:\n%s", strings.Join(lines[i:min(i+4, len(lines))], "\n"))
		}
		return
	}
	t.Fatalf("no .TH header in:\n%.300s", page.String())
}
