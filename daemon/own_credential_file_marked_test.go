package daemon

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

// A credential file an operator wrote carries no marker until rotatord's
// first own rotation rewrites it, and a policy's sink with take_over
// reaching it through a spelling the path and device+inode checks cannot
// match (a bindfs mirror of its directory: another st_dev) replaced the
// key rotatord signs with. With own_key, rotatord marks the file as its
// credential store's (user.rotatord "policy _self") when it reads it at
// start, so every sink refuses it from then on.
func TestOwnCredentialFileMarkedAtStart(t *testing.T) {
	sim := exosimtest.NewServer(t, exosim.DefaultSeed())
	_, credFile := newOwnKeyDaemon(t, sim, `exoscale:
  endpoint: %s
  credential_file: credential.json
  max_retries: 0
  own_key: {max_age: 720h, grace_period: 1h}
state_dir: state
listen: 127.0.0.1:0
`)
	buf := make([]byte, 64)
	n, err := unix.Getxattr(credFile, "user.rotatord", buf)
	if errors.Is(err, unix.EOPNOTSUPP) {
		t.Skip("the file system keeps no extended attributes")
	}
	if err != nil {
		t.Fatalf("the credential file carries no marker after the start: %v", err)
	}
	if got := string(buf[:n]); got != "policy _self" {
		t.Fatalf("marker %q, want %q", got, "policy _self")
	}
}
