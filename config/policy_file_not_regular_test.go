//go:build unix

package config

import (
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/fifotest"
)

// A named pipe at the policy file's path held `validate`, the start of
// `run`, and a reload (whose actor then held the stop) in a blocking read.
// It is refused at once, naming the file.
func TestPolicyFileThatIsNoRegularFileIsRefused(t *testing.T) {
	fifo := fifotest.Make(t, "rotatord.yml")
	for name, read := range map[string]func() error{
		"load":     func() error { _, err := Load(fifo); return err },
		"validate": func() error { _, _, err := Validate(fifo, ValidateOptions{Getenv: env(nil)}); return err },
	} {
		err := fifotest.Call(t, fifo, name, read)
		if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: got %v, want an error naming %s: not a regular file", name, err, fifo)
		}
	}
}
