package nametmpl

import (
	"bytes"
	"testing"
	"text/template"
)

// TestRenderIsExecute: for every template, concatenated or not, Render
// gives what text/template's Execute gives.
func TestRenderIsExecute(t *testing.T) {
	for _, c := range []struct {
		tmpl   string
		simple bool
	}{
		{"/run/creds/{{.Name}}.json", true},
		{"{{.Name}}", true},
		{"secret/{{.Name}}/{{.Name}}", true},
		{"/run/creds/static.json", true},
		{"", true},
		{"{{- .Name -}}", true}, // trimming happens at parse time
		{"/a/{{ .Name }}/b", true},
		{"/a/{{.Name | printf \"%s-x\"}}", false},
		{"/a/{{printf \"%s\" .Name}}", false},
		{"/a/{{if .Name}}{{.Name}}{{end}}", false},
		{"/a/{{$n := .Name}}{{$n}}", false},
		{"/a/{{.}}", false},
		{"/a/{{/* c */}}{{.Name}}", true},
		{"{{define \"x\"}}X{{end}}/a/{{.Name}}", true},
		{"/a/{{template \"x\" .}}{{define \"x\"}}{{.Name}}{{end}}", false},
		{"/a/{{with .Name}}{{.}}{{end}}", false},
	} {
		tm := template.Must(template.New("p").Parse(c.tmpl))
		r := New(tm)
		if r.simple() != c.simple {
			t.Errorf("%q: simple %v, want %v", c.tmpl, r.simple(), c.simple)
		}
		for _, name := range []string{"ci-runner", "", "a b", `q"<>&'`, "ü/..", "{{.Name}}", "%s"} {
			got, err := r.Render(name)
			var want bytes.Buffer
			werr := tm.Execute(&want, struct{ Name string }{name})
			if (err != nil) != (werr != nil) || got != want.String() {
				t.Errorf("%q with %q: Render %q (%v), Execute %q (%v)", c.tmpl, name, got, err, want.String(), werr)
			}
		}
	}
}

func FuzzRenderIsExecute(f *testing.F) {
	f.Add("/run/{{.Name}}.json", "ci")
	f.Add("{{.Name}}{{.Name}}", "x/y")
	f.Fuzz(func(t *testing.T, tmpl, name string) {
		tm, err := template.New("p").Parse(tmpl)
		if err != nil {
			return
		}
		got, err := New(tm).Render(name)
		var want bytes.Buffer
		werr := tm.Execute(&want, struct{ Name string }{name})
		if (err != nil) != (werr != nil) || err == nil && got != want.String() {
			t.Fatalf("%q with %q: Render %q (%v), Execute %q (%v)", tmpl, name, got, err, want.String(), werr)
		}
	})
}

func BenchmarkRender(b *testing.B) {
	tm := template.Must(template.New("p").Parse("/run/creds/{{.Name}}.json"))
	r := New(tm)
	b.Run("concatenated", func(b *testing.B) {
		for range b.N {
			_, _ = r.Render("ci-runner-00042")
		}
	})
	b.Run("text/template", func(b *testing.B) {
		for range b.N {
			var buf bytes.Buffer
			_ = tm.Execute(&buf, struct{ Name string }{"ci-runner-00042"})
		}
	})
}
