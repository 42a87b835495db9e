package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// A scheduled pass whose names a reload made skip (ReasonReloaded: a
// reload waited for the engine, held by a handler of another name, such
// as a consumer check) runs again once the reload is over: the names due
// waited for the next tick of their schedule (an hour here; with windows,
// possibly the next day's window).
func TestPassSkippedForAReloadRunsAgainOnceItIsOver(t *testing.T) {
	e := newEnv(t)
	release := e.holdEngines() // as a reload waiting for the engine does
	defer release()
	e.start()
	e.eventually("the start's pass to skip ci-runner for the reload", func() bool {
		return e.logs.FilterMessage("a reload is waiting: the next pass acts under the new policies").Len() > 0
	})
	release()
	e.eventually("ci-runner delivered without waiting an hour for its schedule", func() bool {
		_, err := os.Stat(filepath.Join(e.dir, "out", "ci-runner.json"))
		return err == nil
	})
}
