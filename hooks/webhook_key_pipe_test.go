package hooks

import (
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/fifotest"
)

// A named pipe at the webhook's key file is refused at once, not waited
// on: a blocking open would hold the hook until someone writes to it.
func TestWebhookKeyFileThatIsAPipeIsRefusedAtOnce(t *testing.T) {
	path := fifotest.Make(t, "hook-key")
	err := fifotest.Call(t, path, "ReadKeyFile", func() error { _, err := ReadKeyFile(path); return err })
	if err == nil || !strings.Contains(err.Error(), "not a file") {
		t.Errorf("ReadKeyFile of a named pipe: %v, want it refused as not a file", err)
	}
}
