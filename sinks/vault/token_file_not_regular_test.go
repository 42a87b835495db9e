//go:build unix

package vault

import (
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/fifotest"
)

// TestTokenFileThatIsNoRegularFileIsRefused: a named pipe where a token
// file belongs (auth.token_file, a service account token, an AppRole
// secret_id_file; the credential_vault of rotatord's own key reads them at
// start) is refused, naming the path, instead of blocking the read until
// someone writes to it.
func TestTokenFileThatIsNoRegularFileIsRefused(t *testing.T) {
	fifo := fifotest.Make(t, "token")
	err := fifotest.Call(t, fifo, "reading a token file", func() error {
		_, err := readSecretFile(fifo)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), fifo) {
		t.Errorf("got %v, want an error naming %s as not a regular file", err, fifo)
	}
}
