package daemon

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rotatord/rotatord/rotation"
)

// TestPassLogLinesNameTheirAccount: with several organizations a key
// name can be the same in two of them, so the pass's own log lines (pass
// done, pass failed, and each failed name's pass outcome) say which
// account they are about, as the rotation's lines do.
func TestPassLogLinesNameTheirAccount(t *testing.T) {
	e := newAccountsEnv(t)
	// A file green-ci's sink did not write: its name fails at the check.
	if err := os.WriteFile(filepath.Join(e.dir, "out", "green-ci-runner.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := e.open()
	if _, err := d.RunPass(context.Background(), []string{"green-ci"}, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunPass(context.Background(), []string{"ci"}, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.DeleteKey(e.green.Key); err != nil { // green's credential revoked
		t.Fatal(err)
	}
	if _, err := d.RunPass(context.Background(), []string{"green-ci"}, rotation.Options{}); err == nil {
		t.Fatal("a pass of green with its credential revoked succeeded")
	}
	strs := func(fields map[string]any, key string) []string {
		var out []string
		switch v := fields[key].(type) {
		case []string:
			out = v
		case []any:
			for _, x := range v {
				out = append(out, x.(string))
			}
		}
		return out
	}
	var outcome, doneGreen, doneDefault, failed bool
	for _, l := range e.logs.All() {
		f := l.ContextMap()
		switch l.Message {
		case "pass outcome":
			if f["policy"] == "green-ci" {
				outcome = true
				if f["account"] != "green" {
					t.Errorf("pass outcome of green-ci: account %v, want green (%v)", f["account"], f)
				}
			}
		case "pass done":
			switch ps := strs(f, "policies"); {
			case slices.Equal(ps, []string{"green-ci"}):
				doneGreen = true
				if !slices.Equal(strs(f, "accounts"), []string{"green"}) {
					t.Errorf("pass done of green-ci: accounts %v, want [green] (%v)", f["accounts"], f)
				}
			case slices.Equal(ps, []string{"ci"}):
				doneDefault = true
				if !slices.Equal(strs(f, "accounts"), []string{"default"}) {
					t.Errorf("pass done of ci: accounts %v, want [default] (%v)", f["accounts"], f)
				}
			}
		case "pass failed":
			failed = true
			if !slices.Equal(strs(f, "accounts"), []string{"green"}) {
				t.Errorf("pass failed: accounts %v, want [green] (%v)", f["accounts"], f)
			}
		}
	}
	if !outcome || !doneGreen || !doneDefault || !failed {
		t.Errorf("logged: pass outcome of green-ci %v, pass done of green-ci %v and of ci %v, pass failed %v; want all", outcome, doneGreen, doneDefault, failed)
	}
}
