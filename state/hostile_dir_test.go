package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Review 16d: odd content in the state directory. Each case must open
// with the right records, or fail with an error naming the culprit; never
// hang, never load a record that was not written.
func TestHostileDirectory(t *testing.T) {
	put := func(policy, name, id string) []byte {
		return appendFrame(nil, []byte(`{"put":{"policy":"`+policy+`","name":"`+name+`","current_key_id":"`+id+`"}}`))
	}
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr string // "" must open
		want    map[string]string
	}{
		{"symlink named like a log", func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			os.WriteFile(target, append([]byte(walMagic), put("p", "n", "EXOevil")...), 0o600)
			os.Symlink(target, filepath.Join(dir, walName(5)))
		}, walName(5), nil},
		{"directory named like a log", func(t *testing.T, dir string) {
			os.Mkdir(filepath.Join(dir, walName(5)), 0o700)
		}, walName(5), nil},
		{"bad header", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, walName(5)), []byte("rotatord-wal-2\n"), 0o600)
		}, walName(5), nil},
		{"huge length", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, walName(5)), append([]byte(walMagic), 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0), 0o600)
		}, "", map[string]string{"n": "EXO1"}},
		{"length just under the limit, file short", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, walName(5)), append([]byte(walMagic), 0x00, 0xff, 0xff, 0xff, 1, 2, 3, 4, 'x'), 0o600)
		}, "", map[string]string{"n": "EXO1"}},
		{"entry neither put nor delete", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, walName(5)), append([]byte(walMagic), appendFrame(nil, []byte(`{}`))...), 0o600)
		}, walName(5), nil},
		{"entry both put and delete", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, walName(5)), append([]byte(walMagic), appendFrame(nil, []byte(`{"put":{"policy":"p","name":"n"},"delete":{"policy":"p","name":"n"}}`))...), 0o600)
		}, walName(5), nil},
		{"put without a name", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, walName(5)), append([]byte(walMagic), put("p", "", "EXO")...), 0o600)
		}, walName(5), nil},
		{"gaps in sequence numbers", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, walName(3)), append([]byte(walMagic), put("p", "n", "EXO3")...), 0o600)
			os.WriteFile(filepath.Join(dir, walName(40)), append([]byte(walMagic), put("p", "n", "EXO40")...), 0o600)
			os.WriteFile(filepath.Join(dir, walName(9)), append([]byte(walMagic), put("p", "m", "EXO9")...), 0o600)
		}, "", map[string]string{"n": "EXO40", "m": "EXO9"}},
		{"record file named for another record", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, recordsDir, fileName("p", "other")), []byte(`{"policy":"p","name":"n","current_key_id":"EXOevil"}`), 0o600)
		}, fileName("p", "other"), nil},
		{"record file named for another record, that record in the log", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, recordsDir, fileName("p", "other")), []byte(`{"policy":"p","name":"n","current_key_id":"EXOevil"}`), 0o600)
			os.WriteFile(filepath.Join(dir, walName(5)), append([]byte(walMagic), put("p", "other", "EXOo")...), 0o600)
		}, "", map[string]string{"n": "EXO1", "other": "EXOo"}},
		{"leftover temp files", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, recordsDir, "."+fileName("p", "n")+".tmp-123"), []byte(`{"pol`), 0o600)
			os.WriteFile(filepath.Join(dir, recordsDir, "."+fileName("p", "x")+".tmp-9"), []byte(`{"policy":"p","name":"x"}`), 0o600)
		}, "", map[string]string{"n": "EXO1"}},
		{"log named without zero padding (not a name rotatord gives: ignored)", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "journal.7.wal"), append([]byte(walMagic), put("p", "n", "EXO7")...), 0o600)
		}, "", map[string]string{"n": "EXO1"}},
		{"not a log: other suffix", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "journal.7.wal.bak"), []byte("junk"), 0o600)
			os.WriteFile(filepath.Join(dir, "journal.x.wal"), []byte("junk"), 0o600)
		}, "", map[string]string{"n": "EXO1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir)
			if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			c.prepare(t, dir)
			for _, ro := range []bool{true, false} {
				type result struct {
					s   *Store
					err error
				}
				done := make(chan result, 1)
				go func() {
					var r result
					if ro {
						r.s, r.err = OpenReadOnly(dir)
					} else {
						r.s, r.err = Open(dir)
					}
					done <- r
				}()
				var r result
				select {
				case r = <-done:
				case <-time.After(5 * time.Second):
					t.Fatalf("read-only %v: hung", ro)
				}
				if c.wantErr != "" {
					if r.err == nil || !strings.Contains(r.err.Error(), c.wantErr) {
						t.Errorf("read-only %v: err %v, want one naming %s", ro, r.err, c.wantErr)
					}
					if r.err == nil {
						r.s.Close()
					}
					continue
				}
				if r.err != nil {
					t.Fatalf("read-only %v: %v", ro, r.err)
				}
				got := map[string]string{}
				for _, rec := range r.s.List("") {
					got[rec.Name] = rec.CurrentKeyID
				}
				if len(got) != len(c.want) {
					t.Errorf("read-only %v: %v, want %v", ro, got, c.want)
				}
				for n, id := range c.want {
					if got[n] != id {
						t.Errorf("read-only %v: %s = %q, want %q", ro, n, got[n], id)
					}
				}
				r.s.Close()
			}
		})
	}
}
