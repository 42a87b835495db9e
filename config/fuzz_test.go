package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse checks that Parse never panics, that it reports every failure
// as *Errors, and that an accepted config survives a marshal/parse round
// trip unchanged: what `rotatord validate` prints must load again.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yml", "/etc/rotatord")
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(*errs) == 0 {
				t.Fatalf("Parse() error is not a non-empty *Errors: %T %v", err, err)
			}
			return
		}

		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("Marshal(): %v", err)
		}
		again, err := Parse(out, "roundtrip.yml", "/elsewhere")
		if err != nil {
			t.Fatalf("marshalled config does not parse:\n%s\nerror: %v", out, err)
		}
		out2, err := yaml.Marshal(again)
		if err != nil {
			t.Fatalf("Marshal() again: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the config:\n%s\nbecame:\n%s", out, out2)
		}
	})
}
