package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeRendersTheTemplateForTheName: a content template that fails
// for one key name (here on a name shorter than it slices; validate runs
// it on a sample name only) passed the probe and failed only at the
// write, after the replacement key was created: a key made for nothing,
// the name stuck with two live keys. Probe renders the template for the
// name (with placeholder key, secret and role) and fails first, writing
// nothing.
func TestProbeRendersTheTemplateForTheName(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatTemplate, func(o *Options) {
		o.Template = mustParseTemplate("content", `NAME={{slice .Name 0 5}}
SECRET={{shquote .APISecret}}
`)
	})
	if err := s.Probe(t.Context(), "ci-runner"); err != nil {
		t.Fatalf("Probe of a name the template renders: %v", err)
	}
	err := s.Probe(t.Context(), "ci")
	if err == nil {
		t.Fatal("Probe passed a name the template cannot render")
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "ci.cred")) || !strings.Contains(err.Error(), "slice") {
		t.Errorf("error %q does not name the target and what failed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ci.cred")); !os.IsNotExist(err) {
		t.Errorf("the probe wrote the target: %v", err)
	}
}

// TestProbeRefusesATemplateTooLargeToReadBack: a template whose output is
// larger than the file sink reads back (maxFileSize; here for long names
// only, which validate's sample name is not) passed validate and the
// probe; the write succeeded, and its read-back failed ("target larger
// than 1048576 bytes") after the replacement key was created: a key made
// for nothing at every rotation. The probe renders the template for the
// name now: it refuses output larger than the write's read-back allows.
func TestProbeRefusesATemplateTooLargeToReadBack(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatTemplate, func(o *Options) {
		o.Template = mustParseTemplate("content", `{{if gt (len .Name) 8}}{{range 70000}}0123456789abcdef{{end}}{{end}}SECRET={{shquote .APISecret}}
`)
	})
	if err := s.Probe(t.Context(), "ci"); err != nil {
		t.Fatalf("Probe of a name with small output: %v", err)
	}
	err := s.Probe(t.Context(), "ci-runner")
	if err == nil {
		t.Fatal("Probe passed a template whose output the write cannot read back")
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "ci-runner.cred")) || !strings.Contains(err.Error(), "1048576") {
		t.Errorf("error %q does not name the target and the limit", err)
	}
	if strings.Contains(err.Error(), "0123456789abcdef") || strings.Contains(err.Error(), string(probeSecret)) {
		t.Errorf("error %q quotes the rendered output", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ci-runner.cred")); !os.IsNotExist(err) {
		t.Errorf("the probe wrote the target: %v", err)
	}
}

// TestProbePlaceholdersAreShapedAsTheRealOnes: the probe's placeholder
// secret was 44 characters, Exoscale's are 43 (the key id 27): a template
// relying on a secret one character longer than any real one (here
// slicing it, past validate's 13-character sample) passed the probe and failed at the write, after the key was
// created.
func TestProbePlaceholdersAreShapedAsTheRealOnes(t *testing.T) {
	if n := len(probeSecret.Reveal()); n != 43 {
		t.Errorf("placeholder secret of %d characters, real ones have 43", n)
	}
	if n := len(probeKeyID); n != 27 {
		t.Errorf("placeholder key id of %d characters, real ones have 27", n)
	}
	s := newSink(t, t.TempDir(), FormatTemplate, func(o *Options) {
		o.Template = mustParseTemplate("content", `{{if gt (len .APISecret) 13}}TAIL={{slice .APISecret 40 44}}{{end}}
`)
	})
	if err := s.Probe(t.Context(), "ci-runner"); err == nil {
		t.Error("Probe passed a template that fails for every real secret")
	}
}
