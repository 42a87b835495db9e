package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

const testSecret = "Zx9-sEcReT_value-0123456789abcdefghijklmnop"

func cred(name, keyID, sec string) sinks.Credential {
	return sinks.Credential{
		Name:   name,
		KeyID:  keyID,
		RoleID: "7c2a1e40-0000-4000-8000-000000000001",
		Secret: secret.Value(sec),
		// Not UTC on purpose: the json format must convert.
		CreatedAt: time.Date(2026, 11, 29, 11, 0, 0, 0, time.FixedZone("CET", 3600)),
	}
}

func pathTemplate(t *testing.T, text string) *template.Template {
	t.Helper()
	return template.Must(template.New("path").Parse(text))
}

// newSink returns a sink writing <dir>/<name>.cred in format, with opts
// applied on top.
func newSink(t *testing.T, dir, format string, opts ...func(*Options)) *Sink {
	t.Helper()
	o := Options{
		Path:   pathTemplate(t, dir+"/{{.Name}}.cred"),
		Format: format,
		UID:    -1,
		GID:    -1,
	}
	if format == FormatTemplate {
		o.Template = template.Must(template.New("content").Parse("KEY={{.APIKey}}\nSECRET={{.APISecret}}"))
	}
	for _, f := range opts {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dirNames lists dir, so tests can check that no temp file was left behind.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestNew(t *testing.T) {
	good := template.Must(template.New("content").Parse("{{.APIKey}}"))
	tests := []struct {
		name string
		give Options
		want string // substring of the error, "" for success
	}{
		{
			name: "json",
			give: Options{Path: pathTemplate(t, "/etc/rotatord/{{.Name}}.json"), Format: FormatJSON, UID: -1, GID: -1},
		},
		{
			name: "template with template",
			give: Options{Path: pathTemplate(t, "/x/{{.Name}}"), Format: FormatTemplate, Template: good, UID: -1, GID: -1},
		},
		{
			name: "no path",
			give: Options{Format: FormatJSON},
			want: "path template missing",
		},
		{
			name: "unknown format",
			give: Options{Path: pathTemplate(t, "/x/{{.Name}}"), Format: "yaml"},
			want: `unknown format "yaml"`,
		},
		{
			name: "template format without template",
			give: Options{Path: pathTemplate(t, "/x/{{.Name}}"), Format: FormatTemplate},
			want: "needs a template",
		},
		{
			name: "template with another format",
			give: Options{Path: pathTemplate(t, "/x/{{.Name}}"), Format: FormatEnv, Template: good},
			want: `not "env"`,
		},
		{
			name: "mode with type bits",
			give: Options{Path: pathTemplate(t, "/x/{{.Name}}"), Format: FormatEnv, Mode: os.ModeDir | 0o600},
			want: "bits other than permissions",
		},
		{
			name: "mode owner cannot read",
			give: Options{Path: pathTemplate(t, "/x/{{.Name}}"), Format: FormatEnv, Mode: 0o200},
			want: "owner read",
		},
		{
			name: "mode world writable",
			give: Options{Path: pathTemplate(t, "/x/{{.Name}}"), Format: FormatEnv, Mode: 0o602},
			want: "anyone replace",
		},
		{
			name: "uid below -1",
			give: Options{Path: pathTemplate(t, "/x/{{.Name}}"), Format: FormatEnv, UID: -2, GID: -1},
			want: "below -1",
		},
		{
			name: "relative path",
			give: Options{Path: pathTemplate(t, "creds/{{.Name}}"), Format: FormatEnv, UID: -1, GID: -1},
			want: `path template "path" renders relative path "creds/example" for "example"`,
		},
		{
			name: "path template unknown field",
			give: Options{Path: pathTemplate(t, "/x/{{.Key}}"), Format: FormatEnv, UID: -1, GID: -1},
			want: `render path template "path" for "example"`,
		},
		{
			name: "content template unknown field",
			give: Options{
				Path:     pathTemplate(t, "/x/{{.Name}}"),
				Format:   FormatTemplate,
				Template: template.Must(template.New("content").Parse("{{.Secret}}")),
				UID:      -1, GID: -1,
			},
			want: `execute template "content"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.give)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.Kind() != "file" {
					t.Errorf("Kind() = %q, want file", s.Kind())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWriteFormats(t *testing.T) {
	tests := []struct {
		name   string
		format string
		give   sinks.Credential
		want   string
		// wantHeld is false for the template format, which cannot be read back.
		wantHeld bool
	}{
		{
			name:   "json",
			format: FormatJSON,
			give:   cred("ci-runner", "EXOabc123", testSecret),
			want: `{
  "api_key": "EXOabc123",
  "api_secret": "` + testSecret + `",
  "name": "ci-runner",
  "role_id": "7c2a1e40-0000-4000-8000-000000000001",
  "created_at": "2026-11-29T10:00:00Z"
}
`,
			wantHeld: true,
		},
		{
			name:     "json keeps html characters",
			format:   FormatJSON,
			give:     cred("a&b", "EXOabc123", `<s"e\c>`),
			want:     "{\n  \"api_key\": \"EXOabc123\",\n  \"api_secret\": \"<s\\\"e\\\\c>\",\n  \"name\": \"a&b\",\n  \"role_id\": \"7c2a1e40-0000-4000-8000-000000000001\",\n  \"created_at\": \"2026-11-29T10:00:00Z\"\n}\n",
			wantHeld: true,
		},
		{
			name:     "env",
			format:   FormatEnv,
			give:     cred("ci-runner", "EXOabc123", testSecret),
			want:     "EXOSCALE_API_KEY=EXOabc123\nEXOSCALE_API_SECRET=" + testSecret + "\n",
			wantHeld: true,
		},
		{
			name:     "env quotes a value outside the plain set",
			format:   FormatEnv,
			give:     cred("ci-runner", "EXOabc123", "a b$c`d\"e\\f'g"),
			want:     "EXOSCALE_API_KEY=EXOabc123\nEXOSCALE_API_SECRET=\"a b\\$c\\`d\\\"e\\\\f'g\"\n",
			wantHeld: true,
		},
		{
			name:   "exoscale-toml",
			format: FormatExoscaleTOML,
			give:   cred("ci-runner", "EXOabc123", testSecret),
			want: `defaultAccount = "ci-runner"

[[accounts]]
name = "ci-runner"
key = "EXOabc123"
secret = "` + testSecret + `"
`,
			wantHeld: true,
		},
		{
			name:   "exoscale-toml escapes",
			format: FormatExoscaleTOML,
			give:   cred(`q"b\s`, "EXOabc123", "t\tn\nc\x01d\x7fé"),
			want: `defaultAccount = "q\"b\\s"

[[accounts]]
name = "q\"b\\s"
key = "EXOabc123"
secret = "t\tn\nc\u0001d\u007Fé"
`,
			wantHeld: true,
		},
		{
			name:   "template",
			format: FormatTemplate,
			give:   cred("ci-runner", "EXOabc123", testSecret),
			// The template's output gets the final newline it lacks.
			want: "KEY=EXOabc123\nSECRET=" + testSecret + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// A name with a quote is not a file name we want; keep the path fixed.
			s := newSink(t, dir, tt.format, func(o *Options) {
				o.Path = pathTemplate(t, dir+"/out")
			})
			ctx := context.Background()
			if err := s.Write(ctx, tt.give); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if got := readString(t, filepath.Join(dir, "out")); got != tt.want {
				t.Errorf("file content:\n%s\nwant:\n%s", got, tt.want)
			}
			if err := s.Verify(ctx, tt.give); err != nil {
				t.Errorf("Verify: %v", err)
			}
			held, err := s.Read(ctx, tt.give.Name)
			if !tt.wantHeld {
				if !errors.Is(err, ErrUnreadable) {
					t.Errorf("Read error = %v, want ErrUnreadable", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if held.KeyID != tt.give.KeyID || held.Secret.Reveal() != tt.give.Secret.Reveal() {
				t.Errorf("Read = %q, %q; want %q and the written secret", held.KeyID, held.Secret.Reveal(), tt.give.KeyID)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"out"}) {
				t.Errorf("directory holds %q, want only the target", names)
			}
		})
	}
}

func TestWriteMode(t *testing.T) {
	// A umask that would strip the group bits: the chmod must still make
	// the mode exact.
	old := setUmask(0o077)
	t.Cleanup(func() { setUmask(old) })
	tests := []struct {
		name string
		give os.FileMode
		want os.FileMode
	}{
		{name: "default", give: 0, want: 0o600},
		{name: "group readable", give: 0o640, want: 0o640},
		{name: "read only", give: 0o400, want: 0o400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newSink(t, dir, FormatEnv, func(o *Options) { o.Mode = tt.give })
			c := cred("k", "EXO1", testSecret)
			// Twice: the second write replaces a file the first one made.
			for i := 0; i < 2; i++ {
				if err := s.Write(context.Background(), c); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			fi, err := os.Stat(filepath.Join(dir, "k.cred"))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Errorf("mode = %#o, want %#o", got, tt.want)
			}
			if err := s.Verify(context.Background(), c); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestWriteOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv, func(o *Options) { o.UID, o.GID = 4242, 4343 })
	c := cred("k", "EXO1", testSecret)
	if err := s.Write(context.Background(), c); err != nil {
		t.Fatalf("Write: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "k.cred"))
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid, ok := owner(fi); !ok || uid != 4242 || gid != 4343 {
		t.Errorf("owner = %d:%d, want 4242:4343", uid, gid)
	}
	if err := s.Verify(context.Background(), c); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := os.Chown(filepath.Join(dir, "k.cred"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(context.Background(), c); !errors.Is(err, ErrPermissions) {
		t.Errorf("Verify after chown = %v, want ErrPermissions", err)
	}
}

func TestWriteFailureKeepsPreviousFile(t *testing.T) {
	old := cred("k", "EXOold", "old-secret")
	next := cred("k", "EXOnew", testSecret)
	tests := []struct {
		name string
		give string // the step that fails
	}{
		{name: "create", give: "create"},
		{name: "mark", give: "mark"},
		{name: "chmod", give: "chmod"},
		{name: "chown", give: "chown"},
		{name: "write", give: "write"},
		{name: "sync", give: "sync"},
		{name: "close", give: "close"},
		{name: "rename", give: "rename"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// Chown to ourselves so that the chown step runs without root.
			s := newSink(t, dir, FormatJSON, func(o *Options) { o.UID = os.Getuid() })
			ctx := context.Background()
			if err := s.Write(ctx, old); err != nil {
				t.Fatalf("first Write: %v", err)
			}
			before := readString(t, filepath.Join(dir, "k.cred"))
			var reached bool
			s.inject = func(step string) error {
				if step == tt.give {
					reached = true
					return errors.New("injected")
				}
				return nil
			}
			err := s.Write(ctx, next)
			if !reached {
				t.Fatalf("step %q never ran", tt.give)
			}
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("Write error = %v, want the injected one", err)
			}
			if got := readString(t, filepath.Join(dir, "k.cred")); got != before {
				t.Errorf("target changed to:\n%s", got)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
				t.Errorf("directory holds %q, want only the target", names)
			}
			if err := s.Verify(ctx, old); err != nil {
				t.Errorf("Verify(old): %v", err)
			}
		})
	}
}

func TestWriteTemplateErrorKeepsPreviousFile(t *testing.T) {
	dir := t.TempDir()
	// Fails only for the name "boom", so that New's sample render passes.
	content := template.Must(template.New("content").Parse(
		`{{.APIKey}} {{.APISecret}}{{if eq .Name "boom"}}{{index .Name 99}}{{end}}`))
	s := newSink(t, dir, FormatTemplate, func(o *Options) {
		o.Path = pathTemplate(t, dir+"/fixed")
		o.Template = content
	})
	ctx := context.Background()
	if err := s.Write(ctx, cred("ok", "EXOold", "old-secret")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	err := s.Write(ctx, cred("boom", "EXOnew", testSecret))
	if err == nil || !strings.Contains(err.Error(), `execute template "content"`) {
		t.Fatalf("Write error = %v, want a template error", err)
	}
	if got := readString(t, filepath.Join(dir, "fixed")); got != "EXOold old-secret\n" {
		t.Errorf("target changed to %q", got)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"fixed"}) {
		t.Errorf("directory holds %q, want only the target", names)
	}
	// The engine asks whether the failed write may have landed: a
	// credential that cannot be rendered is not in the file.
	if err := s.Verify(ctx, cred("boom", "EXOnew", testSecret)); !errors.Is(err, sinks.ErrMismatch) {
		t.Errorf("Verify of an unrenderable credential = %v, want ErrMismatch", err)
	}
}

func TestWriteAfterRename(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv)
	s.inject = func(step string) error {
		if step == "syncdir" {
			return errors.New("injected")
		}
		return nil
	}
	c := cred("k", "EXO1", testSecret)
	// The file is complete, but the caller must learn it may not be durable.
	if err := s.Write(context.Background(), c); err == nil {
		t.Fatal("Write succeeded, want the directory sync error")
	}
	s.inject = nil
	if err := s.Verify(context.Background(), c); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestWriteRefusesOtherTargets(t *testing.T) {
	tests := []struct {
		name string
		give func(t *testing.T, target string)
		want string
	}{
		{
			name: "directory",
			give: func(t *testing.T, target string) {
				if err := os.Mkdir(target, 0o700); err != nil {
					t.Fatal(err)
				}
			},
			want: "not a regular file",
		},
		{
			name: "symlink",
			give: func(t *testing.T, target string) {
				if err := os.Symlink("/dev/null", target); err != nil {
					t.Fatal(err)
				}
			},
			want: "not a regular file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "k.cred")
			tt.give(t, target)
			s := newSink(t, dir, FormatEnv)
			err := s.Write(context.Background(), cred("k", "EXO1", testSecret))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), target) {
				t.Fatalf("Write error = %v, want %q naming %s", err, tt.want, target)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
				t.Errorf("directory holds %q, want only the target", names)
			}
			fi, err := os.Lstat(target)
			if err != nil || fi.Mode().IsRegular() {
				t.Errorf("target was replaced: %v, %v", fi, err)
			}
		})
	}
}

func TestWriteMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	s := newSink(t, dir, FormatEnv)
	err := s.Write(context.Background(), cred("k", "EXO1", testSecret))
	if err == nil || !strings.Contains(err.Error(), "directory "+dir+" does not exist") {
		t.Fatalf("Write error = %v, want one naming %s", err, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write created %s", dir)
	}
}

func TestWriteRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".k.cred.tmp-123456")
	other := filepath.Join(dir, ".other.cred.tmp-123456")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("half a secret"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := newSink(t, dir, FormatEnv)
	if err := s.Write(context.Background(), cred("k", "EXO1", testSecret)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file of this target survived: %v", err)
	}
	// Another target's temp file may belong to a write in progress.
	if _, err := os.Stat(other); err != nil {
		t.Errorf("temp file of another target was removed: %v", err)
	}
}

func TestVerify(t *testing.T) {
	want := cred("k", "EXOwant", testSecret)
	tests := []struct {
		name    string
		give    func(t *testing.T, s *Sink, path string)
		wantErr error
	}{
		{
			name: "holds it",
			give: func(t *testing.T, s *Sink, path string) {},
		},
		{
			name: "replaced by another credential",
			give: func(t *testing.T, s *Sink, path string) {
				if err := s.Write(context.Background(), cred("k", "EXOother", "other-secret")); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: sinks.ErrMismatch,
		},
		{
			name: "same key another secret",
			give: func(t *testing.T, s *Sink, path string) {
				if err := s.Write(context.Background(), cred("k", "EXOwant", testSecret+"x")); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: sinks.ErrMismatch,
		},
		{
			name: "edited by hand",
			give: func(t *testing.T, s *Sink, path string) {
				f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteString("# comment\n"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: sinks.ErrMismatch,
		},
		{
			name: "missing",
			give: func(t *testing.T, s *Sink, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: sinks.ErrNotHeld,
		},
		{
			name: "made world readable",
			give: func(t *testing.T, s *Sink, path string) {
				if err := os.Chmod(path, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: ErrPermissions,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newSink(t, dir, FormatJSON)
			path := filepath.Join(dir, "k.cred")
			if err := s.Write(context.Background(), want); err != nil {
				t.Fatal(err)
			}
			tt.give(t, s, path)
			err := s.Verify(context.Background(), want)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("Verify error %q does not name %s", err, path)
			}
		})
	}
}

func TestVerifyRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv, func(o *Options) { o.Path = pathTemplate(t, dir+"/real") })
	c := cred("k", "EXO1", testSecret)
	if err := s.Write(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// The same content behind a link must not count as held.
	link := newSink(t, dir, FormatEnv, func(o *Options) { o.Path = pathTemplate(t, dir+"/link") })
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := link.Verify(context.Background(), c); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Verify through a symlink = %v, want a refusal", err)
	}
	if _, err := link.Read(context.Background(), "k"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read through a symlink = %v, want a refusal", err)
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		give    *string // file content; nil for no file
		wantKey string
		wantErr error
	}{
		{name: "json missing", format: FormatJSON, wantErr: sinks.ErrNotHeld},
		{name: "template missing", format: FormatTemplate, wantErr: sinks.ErrNotHeld},
		{name: "template present", format: FormatTemplate, give: ptr("anything\n"), wantErr: ErrUnreadable},
		{name: "json garbage", format: FormatJSON, give: ptr("{\"api_key\": " + testSecret + "}\n"), wantErr: ErrUnreadable},
		{name: "json without secret", format: FormatJSON, give: ptr(`{"api_key":"EXO1"}`), wantErr: ErrUnreadable},
		{name: "json extra fields", format: FormatJSON, give: ptr(`{"api_key":"EXO1","api_secret":"s","zone":"ch-gva-2"}`), wantKey: "EXO1"},
		{name: "env missing secret", format: FormatEnv, give: ptr("EXOSCALE_API_KEY=EXO1\n"), wantErr: ErrUnreadable},
		{
			name:    "env with comments and single quotes",
			format:  FormatEnv,
			give:    ptr("# managed by rotatord\n\nEXOSCALE_ZONE=ch-gva-2\nEXOSCALE_API_KEY = EXO1\r\nEXOSCALE_API_SECRET='s'\n"),
			wantKey: "EXO1",
		},
		{name: "env unterminated quote", format: FormatEnv, give: ptr("EXOSCALE_API_KEY=EXO1\nEXOSCALE_API_SECRET=\"" + testSecret + "\n"), wantErr: ErrUnreadable},
		{
			name:   "toml picks the default account",
			format: FormatExoscaleTOML,
			give: ptr(`# exo CLI config
defaultAccount = "b"

[[accounts]]
name = "a"
key = "EXOa"
secret = "sa"

[[ accounts ]]  # the one
name = 'b'
key = "EXOb"    # comment
secret = "sb"
defaultZone = "ch-gva-2"

[other]
key = "EXOnot"
`),
			wantKey: "EXOb",
		},
		{name: "toml single account", format: FormatExoscaleTOML, give: ptr("[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecret = \"sa\"\n"), wantKey: "EXOa"},
		{name: "toml unknown default", format: FormatExoscaleTOML, give: ptr("defaultAccount = \"x\"\n[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecret = \"sa\"\n"), wantErr: ErrUnreadable},
		{name: "toml bad escape", format: FormatExoscaleTOML, give: ptr("[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecret = \"" + testSecret + "\\q\"\n"), wantErr: ErrUnreadable},
		{name: "toml unterminated", format: FormatExoscaleTOML, give: ptr("[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecret = \"" + testSecret + "\n"), wantErr: ErrUnreadable},
		{name: "toml text after value", format: FormatExoscaleTOML, give: ptr("[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecret = \"s\" " + testSecret + "\n"), wantErr: ErrUnreadable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newSink(t, dir, tt.format)
			path := filepath.Join(dir, "k.cred")
			if tt.give != nil {
				if err := os.WriteFile(path, []byte(*tt.give), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			held, err := s.Read(context.Background(), "k")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Read error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("Read error %q does not name %s", err, path)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Errorf("Read error %q contains the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if held.KeyID != tt.wantKey || held.Secret.IsZero() {
				t.Errorf("Read = %q (secret set: %v), want %q with a secret", held.KeyID, !held.Secret.IsZero(), tt.wantKey)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestProbe(t *testing.T) {
	tests := []struct {
		name string
		give func(t *testing.T, dir string) (pathDir string)
		opts func(*Options)
		want string // substring of the error, "" for success
	}{
		{
			name: "no target yet",
			give: func(t *testing.T, dir string) string { return dir },
		},
		{
			name: "existing target written by rotatord",
			give: func(t *testing.T, dir string) string {
				if err := newSink(t, dir, FormatEnv).Write(t.Context(), cred("k", "EXO1", testSecret)); err != nil {
					t.Fatal(err)
				}
				return dir
			},
		},
		{
			name: "existing target rotatord did not write",
			give: func(t *testing.T, dir string) string {
				if err := os.WriteFile(filepath.Join(dir, "k.cred"), []byte("keep me"), 0o600); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: "%DIR%/k.cred: the file exists and rotatord did not write it",
		},
		{
			name: "existing target rotatord did not write, take_over",
			give: func(t *testing.T, dir string) string {
				if err := os.WriteFile(filepath.Join(dir, "k.cred"), []byte("keep me"), 0o600); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			opts: func(o *Options) { o.TakeOver = true },
		},
		{
			name: "missing directory",
			give: func(t *testing.T, dir string) string { return filepath.Join(dir, "nope") },
			want: "directory %DIR%/nope does not exist",
		},
		{
			name: "directory is a file",
			give: func(t *testing.T, dir string) string {
				if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(dir, "file")
			},
			want: "%DIR%/file is not a directory",
		},
		{
			name: "target is a directory",
			give: func(t *testing.T, dir string) string {
				if err := os.Mkdir(filepath.Join(dir, "k.cred"), 0o700); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: "not a regular file",
		},
		{
			name: "target is a symlink",
			give: func(t *testing.T, dir string) string {
				if err := os.WriteFile(filepath.Join(dir, "elsewhere"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(dir, "k.cred")); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: "not a regular file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pathDir := tt.give(t, dir)
			before := dirNames(t, dir)
			var opts []func(*Options)
			if tt.opts != nil {
				opts = append(opts, tt.opts)
			}
			s := newSink(t, pathDir, FormatEnv, opts...)
			err := s.Probe(context.Background(), "k")
			if want := strings.ReplaceAll(tt.want, "%DIR%", dir); want == "" {
				if err != nil {
					t.Fatalf("Probe: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Probe error = %v, want it to contain %q", err, want)
			}
			if after := dirNames(t, dir); !slices.Equal(after, before) {
				t.Errorf("Probe changed the directory from %q to %q", before, after)
			}
		})
	}
}

func TestProbeRemovesTempOnFailure(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv, func(o *Options) { o.UID = os.Getuid() })
	s.inject = func(step string) error {
		if step == "chown" {
			return errors.New("injected")
		}
		return nil
	}
	if err := s.Probe(context.Background(), "k"); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Probe error = %v, want the injected one", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("Probe left %q behind", names)
	}
}

func TestPathRendering(t *testing.T) {
	tests := []struct {
		name     string
		givePath string
		giveName string
		want     string // substring of the error
	}{
		{name: "parent escape", givePath: "/srv/creds/{{.Name}}.env", giveName: "../../etc/passwd", want: `renders unclean path "/srv/creds/../../etc/passwd.env" for "../../etc/passwd"`},
		{name: "inner dots", givePath: "/srv/creds/{{.Name}}", giveName: "a..b", want: "unclean path"},
		{name: "empty", givePath: "{{if eq .Name \"example\"}}/x{{end}}", giveName: "other", want: `renders an empty path for "other"`},
		{name: "relative", givePath: "{{if eq .Name \"example\"}}/x{{else}}{{.Name}}{{end}}", giveName: "rel", want: `relative path "rel" for "rel"`},
		{name: "root", givePath: "/{{.Name}}", giveName: "", want: `renders the root directory for ""`},
		{name: "exec error", givePath: "/x/{{.Name}}{{if eq .Name \"bad\"}}{{index .Name 9}}{{end}}", giveName: "bad", want: `render path template "path" for "bad"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{Path: pathTemplate(t, tt.givePath), Format: FormatEnv, UID: -1, GID: -1})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx := context.Background()
			c := cred(tt.giveName, "EXO1", testSecret)
			_, readErr := s.Read(ctx, tt.giveName)
			for op, err := range map[string]error{
				"Probe":  s.Probe(ctx, tt.giveName),
				"Write":  s.Write(ctx, c),
				"Verify": s.Verify(ctx, c),
				"Read":   readErr,
			} {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s error = %v, want it to contain %q", op, err, tt.want)
				}
			}
			if got, want := s.Target(tt.giveName), `<invalid path from template "path">`; got != want {
				t.Errorf("Target = %q, want %q", got, want)
			}
		})
	}
}

func TestTarget(t *testing.T) {
	s := newSink(t, "/srv/creds", FormatEnv)
	if got, want := s.Target("ci-runner"), "/srv/creds/ci-runner.cred"; got != want {
		t.Errorf("Target = %q, want %q", got, want)
	}
}

func TestEnvRejectsControlCharacters(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv)
	err := s.Write(context.Background(), cred("k", "EXO1", testSecret+"\n"))
	if err == nil || !strings.Contains(err.Error(), "EXOSCALE_API_SECRET: value contains a control character") {
		t.Fatalf("Write error = %v, want a control character error", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("Write left %q behind", names)
	}
}

// TestErrorsNeverContainTheSecret provokes every error a sink can produce
// with the secret at hand and searches their text for it.
func TestErrorsNeverContainTheSecret(t *testing.T) {
	ctx := context.Background()
	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Errorf("expected an error (%d so far)", len(errs))
			return
		}
		errs = append(errs, err)
	}
	c := cred("k", "EXO1", testSecret)

	// A template function that quotes its argument in its error (for
	// every value but New's sample: one failing for the real secret only
	// is TestTemplateErrorsNeverQuoteTheSecret's).
	dir := t.TempDir()
	leaky := template.Must(template.New("content").Funcs(template.FuncMap{
		"check": func(s string) (string, error) {
			if s == "sample-secret" {
				return s, nil
			}
			return "", fmt.Errorf("bad value %q", s)
		},
	}).Parse("{{check .APISecret}}"))
	s := newSink(t, dir, FormatTemplate, func(o *Options) { o.Template = leaky })
	err := s.Write(ctx, c)
	collect(err)
	if err != nil && !strings.Contains(err.Error(), secret.Redacted) {
		t.Errorf("template error %q does not show the redaction", err)
	}
	collect(s.Verify(ctx, c))

	for _, format := range []string{FormatJSON, FormatEnv, FormatExoscaleTOML, FormatTemplate} {
		dir := t.TempDir()
		s := newSink(t, dir, format)
		path := filepath.Join(dir, "k.cred")
		collect(s.Verify(ctx, c)) // not held
		if err := s.Write(ctx, c); err != nil {
			t.Fatal(err)
		}
		collect(s.Verify(ctx, cred("k", "EXO1", "another")))         // mismatch
		collect(s.Verify(ctx, cred("k", "EXO1", testSecret+"\x00"))) // mismatch or unrenderable
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		collect(s.Verify(ctx, c)) // mode
		// The secret spliced into places that do not parse.
		for _, junk := range []string{
			testSecret,
			"{" + testSecret,
			"EXOSCALE_API_SECRET=\"" + testSecret,
			"[[accounts]]\nsecret = \"" + testSecret,
			"[[accounts]]\nsecret = \"\\" + testSecret + "\"",
			"[[accounts]]\nsecret = " + testSecret,
			"defaultAccount = \"" + testSecret + "\n",
		} {
			if err := os.WriteFile(path, []byte(junk), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Read(ctx, "k")
			collect(err)
			collect(s.Verify(ctx, c))
		}
		// A file rotatord did not write (a new one: the junk above was
		// written into rotatord's file, which keeps its marker) is refused
		// before any step.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(testSecret), 0o600); err != nil {
			t.Fatal(err)
		}
		collect(s.Write(ctx, c))
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		for _, step := range []string{"create", "mark", "chmod", "write", "sync", "close", "rename", "syncdir"} {
			s.inject = func(got string) error {
				if got == step {
					return errors.New("injected")
				}
				return nil
			}
			collect(s.Write(ctx, c))
		}
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error contains the secret: %q", err)
		}
	}
	if len(errs) < 50 {
		t.Errorf("only %d errors collected; the test lost its cases", len(errs))
	}
}

func TestConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatExoscaleTOML)
	ctx := context.Background()
	const names, rounds = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, names*rounds*3)
	for n := 0; n < names; n++ {
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("key-%d", n)
				for r := 0; r < rounds; r++ {
					c := cred(name, fmt.Sprintf("EXO%d%d%d", n, w, r), fmt.Sprintf("secret-%d-%d-%d", n, w, r))
					if err := s.Write(ctx, c); err != nil {
						errs <- err
						return
					}
					if err := s.Probe(ctx, name); err != nil {
						errs <- err
						return
					}
					if _, err := s.Read(ctx, name); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for n := 0; n < names; n++ {
		name := fmt.Sprintf("key-%d", n)
		held, err := s.Read(ctx, name)
		if err != nil {
			t.Fatalf("Read %s: %v", name, err)
		}
		// Whichever write came last, the file holds exactly one of them.
		var nn, w, r int
		if _, err := fmt.Sscanf(held.Secret.Reveal(), "secret-%d-%d-%d", &nn, &w, &r); err != nil || nn != n {
			t.Fatalf("%s holds secret %q", name, held.Secret.Reveal())
		}
		last := cred(name, fmt.Sprintf("EXO%d%d%d", n, w, r), held.Secret.Reveal())
		if err := s.Verify(ctx, last); err != nil {
			t.Errorf("Verify %s: %v", name, err)
		}
	}
	if got := len(dirNames(t, dir)); got != names {
		t.Errorf("directory holds %d files, want %d", got, names)
	}
}
