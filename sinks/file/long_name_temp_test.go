package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A target whose base name fits NAME_MAX (255 bytes) but whose temp file
// name (".<base>.tmp-<16 hex>", 22 bytes more) does not: a key name of 229
// to 250 characters with "{{.Name}}.json", which whoever may create keys
// chooses. Every probe and write failed with "file name too long", so the
// name failed its rotation at every pass although its file can be written.
// Its temp files get a shorter name that still belongs to that target only,
// and a crashed write's temp file is still removed by the next write.
func TestALongTargetNameIsWrittenThroughAShortTempName(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := newSink(t, dir, FormatJSON)
	name := "ci-" + strings.Repeat("b", 240)
	base := name + ".cred" // 248 bytes
	other := "ci-" + strings.Repeat("b", 239) + "c"

	// A temp file left by a write that crashed before its rename, made
	// before this process lists the directory.
	d, err := s.openDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, tmp, err := createNamed(d, base)
	if err != nil {
		d.close()
		t.Fatalf("create a temp file for a %d-byte target: %v", len(base), err)
	}
	f.Close()
	if len(tmp) > 255 {
		t.Errorf("temp file name of %d bytes", len(tmp))
	}
	// One of another long target, which a write of name must keep.
	f, otherTmp, err := createNamed(d, other+".cred")
	d.close()
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if otherTmp[:len(otherTmp)-16] == tmp[:len(tmp)-16] {
		t.Fatalf("two targets share the temp name prefix %q", tmp[:len(tmp)-16])
	}

	if err := s.Probe(ctx, name); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	c := cred(name, "EXO1", testSecret)
	if err := s.Write(ctx, c); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Verify(ctx, c); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, tmp)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed write's temp file survived its target's write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, otherTmp)); err != nil {
		t.Errorf("another target's temp file was removed: %v", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{otherTmp, base}) && !slices.Equal(names, []string{base, otherTmp}) {
		t.Errorf("directory holds %q", names)
	}
}
