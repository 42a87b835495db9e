//go:build unix

package apiclient

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/fifotest"
)

// TestCredentialFileThatIsNoRegularFileIsRefused: a named pipe planted
// where a credential file belongs (credential_file, api_key_file,
// api_secret_file) is refused with an error naming the path, instead of a
// read that blocks until someone writes to the pipe: `validate` and `run`
// would hang there.
func TestCredentialFileThatIsNoRegularFileIsRefused(t *testing.T) {
	fifo := fifotest.Make(t, "credential.json")
	for _, src := range []CredentialSource{
		{PairFile: fifo},
		{KeyFile: fifo, Secret: "x"},
		{Key: "EXO0123456789abcdef01234567", SecretFile: fifo},
	} {
		err := fifotest.Call(t, fifo, fmt.Sprintf("reading the credential of %+v", src), func() error {
			_, err := src.Resolve(func(string) string { return "" })
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), fifo) {
			t.Errorf("%+v: got %v, want an error naming %s as not a regular file", src, err, fifo)
		}
	}
}
