package config

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12: "One validate run reports every problem it can know ...
// what depends on the host ... is checked". A listen address this host
// cannot serve on (an IP address none of its interfaces has) passed
// `validate`, and `run` then refused to start on it. The check binds the
// address's host with port 0, so it neither needs the port free (a
// reload's validate runs beside the daemon holding it) nor takes it.
func TestValidateOnHostReportsListenAddressNotOfThisHost(t *testing.T) {
	const addr = "192.0.2.1" // TEST-NET-1 (RFC 5737): on no interface
	if ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0")); err == nil {
		ln.Close()
		t.Skipf("this host can listen on %s", addr)
	}
	dir := t.TempDir()
	doc := `exoscale:
  api_key: EXOaaaaaaaaaaaaaaaaaaaaaaaa
  api_secret: s
state_dir: st
listen: "` + addr + `:9108"
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - type: file
        path: out/{{.Name}}.json
`
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }

	_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: getenv})
	if err == nil {
		t.Fatalf("validate on this host accepted listen %s:9108, which run cannot listen on", addr)
	}
	if msg := err.Error(); !strings.Contains(msg, path+":5: listen:") || !strings.Contains(msg, addr) {
		t.Errorf("error %q does not name %s:5, listen and %s", msg, path, addr)
	}

	// The file alone (another machine's file) is not judged by this host.
	if _, _, err := Validate(path, ValidateOptions{Getenv: getenv}); err != nil {
		t.Errorf("without Host: %v", err)
	}
	// A listen this host can serve on passes, whatever its port's state.
	for _, good := range []string{"127.0.0.1:9108", ":9108"} {
		if err := os.WriteFile(path, []byte(strings.Replace(doc, addr+":9108", good, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Validate(path, ValidateOptions{Host: true, Getenv: getenv}); err != nil {
			t.Errorf("listen %s: %v", good, err)
		}
	}
}
