package file

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
)

// TestTemplateErrorsNeverQuoteTheSecret: an error executing a content
// template was kept unless it held the secret verbatim, but Go's template
// errors print values ("range can't iterate over VALUE"): a template that
// fails only for some secrets (validate's sample and the probe's
// placeholder pass) put the real secret, less a character or hex-encoded,
// in the write's error, which rotatord logs. The error of a failing render
// is now the one the same template gives with the probe's placeholder
// secret, or, when that one renders, a fixed text.
func TestTemplateErrorsNeverQuoteTheSecret(t *testing.T) {
	const sec = "Abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	for _, tc := range []struct{ name, tmpl, want string }{
		{"secret less its first character", `{{if eq (slice .APISecret 0 1) "A"}}{{range (slice .APISecret 1)}}{{end}}{{end}}`, "depends on the secret"},
		{"secret in hex", `{{if eq (slice .APISecret 0 1) "A"}}{{range (printf "%x" .APISecret)}}{{end}}{{end}}`, "depends on the secret"},
		{"fails for every secret", `{{if gt (len .Name) 8}}{{range (slice .APISecret 1)}}{{end}}{{end}}`, "range can't iterate over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newSink(t, dir, FormatTemplate, func(o *Options) { o.Template = mustParseTemplate("content", tc.tmpl) })
			c := sinks.Credential{Name: "ci-runner", KeyID: "EXO0123456789abcdef01234567", Secret: sec, RoleID: "r", CreatedAt: time.Now()}
			for _, op := range []struct {
				name string
				f    func() error
			}{
				{"Write", func() error { return s.Write(t.Context(), c) }},
				{"Verify", func() error { return s.Verify(t.Context(), c) }},
			} {
				err := op.f()
				if err == nil {
					t.Fatalf("%s: the template rendered", op.name)
				}
				msg := err.Error()
				for _, leak := range []string{sec[1:9], sec[10:18], sec[30:38], hex.EncodeToString([]byte(sec[:8]))} {
					if strings.Contains(msg, leak) {
						t.Errorf("%s: error %q holds part of the secret (%q)", op.name, msg, leak)
					}
				}
				if !strings.Contains(msg, tc.want) {
					t.Errorf("%s: error %q does not say %q", op.name, msg, tc.want)
				}
			}
		})
	}
}

// TestTemplateErrorDependingOnTheSecretSaysWhere: f35f82b's fixed text for
// a render that fails for the real secret only said "the template depends
// on the secret's value": in a template of many lines the operator had to
// guess which action failed. The text now names the template and the line
// and column of the failing action (template text, never a value), and
// still nothing of the secret.
func TestTemplateErrorDependingOnTheSecretSaysWhere(t *testing.T) {
	const sec = "Abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	s := newSink(t, t.TempDir(), FormatTemplate, func(o *Options) {
		o.Template = mustParseTemplate("content", "KEY={{.APIKey}}\n"+
			`{{if eq (slice .APISecret 0 1) "A"}}{{range (slice .APISecret 1)}}{{end}}{{end}}`+"\n")
	})
	c := sinks.Credential{Name: "ci-runner", KeyID: "EXO0123456789abcdef01234567", Secret: sec, RoleID: "r", CreatedAt: time.Now()}
	err := s.Write(t.Context(), c)
	if err == nil {
		t.Fatal("the template rendered")
	}
	msg := err.Error()
	if !strings.Contains(msg, "depends on the secret") || !strings.Contains(msg, "content:2:") {
		t.Errorf("error %q does not say where in the template (content:2:...) the render failed", msg)
	}
	if strings.Contains(msg, sec[1:9]) {
		t.Errorf("error %q holds part of the secret", msg)
	}
}

// TestTemplateErrorOfAnotherActionIsNotShownAsThisOne: when the render
// with the probe's placeholder failed too, its error was given for the
// real one, even when it failed at another action: here the real secret
// fails a range on line 3, the placeholder an index on line 2, and the
// operator read "index out of range" for a template that failed elsewhere.
// Where the two fail at different places, the text says where the real
// render failed, as when the placeholder's passes.
func TestTemplateErrorOfAnotherActionIsNotShownAsThisOne(t *testing.T) {
	const sec = "Abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	s := newSink(t, t.TempDir(), FormatTemplate, func(o *Options) {
		o.Template = mustParseTemplate("content", "KEY={{.APIKey}}\n"+
			`{{if eq (slice .APISecret 0 5) "probe"}}{{index .Name 99}}{{end}}`+"\n"+
			`{{if eq (slice .APISecret 0 1) "A"}}{{range (slice .APISecret 1)}}{{end}}{{end}}`+"\n")
	})
	c := sinks.Credential{Name: "ci-runner", KeyID: "EXO0123456789abcdef01234567", Secret: sec, RoleID: "r", CreatedAt: time.Now()}
	err := s.Write(t.Context(), c)
	if err == nil {
		t.Fatal("the template rendered")
	}
	msg := err.Error()
	if strings.Contains(msg, "index out of range") || !strings.Contains(msg, "content:3:") {
		t.Errorf("error %q: want where the render failed for this secret (content:3:...), not another render's error", msg)
	}
	if strings.Contains(msg, sec[1:9]) {
		t.Errorf("error %q holds part of the secret", msg)
	}
}
