package rotation

import (
	"os"
	"path/filepath"
	"testing"
	"text/template"
	"time"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// TestSinkCheckFindsRealFilesAsWritten: files rotatord wrote, in every
// format, by a rotation and by a repair, are found as written by every
// later check (their fingerprints match): no loss, no new key.
func TestSinkCheckFindsRealFilesAsWritten(t *testing.T) {
	for _, format := range []string{file.FormatJSON, file.FormatEnv, file.FormatExoscaleTOML, file.FormatTemplate} {
		t.Run(format, func(t *testing.T) {
			h := newHarness(t, 0)
			h.api.sinks = nil
			var ss []sinks.Sink
			var dirs []string
			for range 2 {
				dirs = append(dirs, t.TempDir())
				opts := file.Options{Format: format, Policy: "ci"}
				if format == file.FormatTemplate {
					opts.Template = template.Must(template.New("t").Parse("id={{.APIKey}} secret={{.APISecret}} at={{.CreatedAt}}\n"))
				}
				ss = append(ss, fileSinkWith(t, dirs[len(dirs)-1]+"/{{.Name}}.conf", opts))
			}
			// The json sink first: a repair has a source that gives the
			// secret back.
			ss = append(ss, mustJSON(t))
			h.policy.Sinks = ss
			h.policy.SinkCheck = time.Hour
			h.engine.SetPolicies([]Policy{h.policy})
			h.api.add("ci-runner", roleCI)
			h.pass(Options{Force: true})
			key := h.api.live("ci-runner")[0]
			for range 3 {
				h.clock.Add(checkAgain)
				h.pass(Options{})
			}
			if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
				t.Errorf("live keys %v, want %s alone", live, key)
			}
			if n := h.rec.checks("lost"); n != 0 {
				t.Errorf("%d losses counted for files as rotatord wrote them (%v)", n, h.rec.sinkChecks)
			}
			// A file removed is given back by a repair, which the later
			// checks find as written too.
			if err := os.Remove(filepath.Join(dirs[0], "ci-runner.conf")); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				h.clock.Add(checkAgain)
				h.pass(Options{})
			}
			if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
				t.Errorf("live keys %v after the repair, want %s alone", live, key)
			}
			if n := h.rec.checks("lost"); n != 1 {
				t.Errorf("%d losses counted, want the removed file's alone (%v)", n, h.rec.sinkChecks)
			}
		})
	}
}

func mustJSON(t *testing.T) sinks.Sink {
	t.Helper()
	return fileSinkAt(t, t.TempDir()+"/{{.Name}}.json", file.FormatJSON)
}
