package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// The deleter arms a timer for the earliest deletion: with the periodic
// check an hour apart, old keys still go when their grace period (2 s)
// ends.
func TestDeletionTimerArmedForTheEarliest(t *testing.T) {
	e := newEnv(t)
	e.d.Close()
	e.writePolicy(strings.Replace(ciPolicy, "grace_period: 0s", "grace_period: 2s", 1))
	d, err := New(Options{ConfigPath: e.config, Logger: zap.NewNop(), Registry: prometheus.NewRegistry(), DeleteCheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	e.d = d
	e.start()
	e.eventually("ci-runner delivered", func() bool {
		_, err := os.Stat(filepath.Join(e.dir, "out", "ci-runner.json"))
		return err == nil
	})
	e.eventually("old keys deleted by the timer", func() bool {
		n := 0
		for _, k := range e.sim.Keys() {
			if k.Alive && strings.HasPrefix(k.Name, "ci-") {
				n++
			}
		}
		return n == 2
	})
}
