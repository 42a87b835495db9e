//go:build unix

package vault

import (
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/fifotest"
)

// A named pipe at tls.ca_cert (the sink's, or the credential_vault's of
// rotatord's own key) is refused when the sink is built, at the start and
// at each reload, naming the field and the file: the Vault library's
// blocking read of it held the start until someone wrote to the pipe.
func TestCACertThatIsNoRegularFileIsRefused(t *testing.T) {
	fifo := fifotest.Make(t, "ca.pem")
	err := fifotest.Call(t, fifo, "building a Vault sink with it as tls.ca_cert", func() error {
		s, err := New(Options{
			Address: "https://vault.example:8200", Path: pathTmpl(t, "exoscale/{{.Name}}"),
			TLS:    TLSOptions{CACert: fifo},
			Getenv: func(k string) string { return map[string]string{"VAULT_TOKEN": "hvs.x"}[k] },
		})
		if err == nil {
			s.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "tls.ca_cert") || !strings.Contains(err.Error(), fifo) ||
		!strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("got %v, want an error naming tls.ca_cert %s: not a regular file", err, fifo)
	}
}
