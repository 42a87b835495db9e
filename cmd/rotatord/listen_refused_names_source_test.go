package main

import (
	"net"
	"strings"
	"testing"
)

// TestRunListenRefusedNamesWhereTheAddressCameFrom: an address run cannot
// serve on stopped it with Go's bare "listen tcp ADDR: bind: ...", naming
// neither the policy file's listen nor --web.listen-address: an operator
// with both did not know which to fix.
func TestRunListenRefusedNamesWhereTheAddressCameFrom(t *testing.T) {
	const addr = "192.0.2.1:9108" // TEST-NET-1 (RFC 5737): on no interface
	if ln, err := net.Listen("tcp", "192.0.2.1:0"); err == nil {
		ln.Close()
		t.Skip("this host can listen on 192.0.2.1")
	}
	e := newSimEnv(t, "listen: \""+addr+"\"\n")
	code, _, stderr := runCLI("run", "--config.file", e.config)
	if code != 1 || !strings.Contains(stderr, e.config) || !strings.Contains(stderr, "listen: ") || !strings.Contains(stderr, addr) {
		t.Errorf("run with listen %s in the file = %d, stderr %q; want 1, naming %s, listen and the address", addr, code, stderr, e.config)
	}

	e = newSimEnv(t, "")
	code, _, stderr = runCLI("run", "--config.file", e.config, "--web.listen-address", addr)
	if code != 1 || !strings.Contains(stderr, "--web.listen-address") || !strings.Contains(stderr, addr) {
		t.Errorf("run --web.listen-address %s = %d, stderr %q; want 1, naming --web.listen-address and the address", addr, code, stderr)
	}
}
