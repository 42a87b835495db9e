package rotation

import (
	"testing"
	"text/template"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

func toSinks(s ...*memSink) []sinks.Sink {
	out := make([]sinks.Sink, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// fileSinkAt is a file sink of policy ci writing path (a template, its
// directory included) in format, owned by the test's own user.
func fileSinkAt(t *testing.T, path, format string) *file.Sink {
	t.Helper()
	return fileSinkWith(t, path, file.Options{Format: format, Policy: "ci"})
}

// fileSinkWith is a file sink with the options o, its Path parsed from
// path, owned by the test's own user (UID and GID -1).
func fileSinkWith(t *testing.T, path string, o file.Options) *file.Sink {
	t.Helper()
	o.Path = template.Must(template.New("p").Parse(path))
	o.UID, o.GID = -1, -1
	s, err := file.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
