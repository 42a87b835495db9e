package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue #12: "Validation that means 'run will start'". A listen port below
// net.ipv4.ip_unprivileged_port_start (80, 443) passed validate run as a
// user without CAP_NET_BIND_SERVICE, and run as that user then stopped
// with "bind: permission denied". The check reads the sysctl and the
// process's capabilities: it neither binds the port (a reload's validate
// runs beside the daemon that holds it) nor guesses when /proc/sys is
// hidden.
func TestValidateOnHostReportsPrivilegedListenPortWithoutTheCapability(t *testing.T) {
	start, can := unprivilegedPortStart, canBindPrivilegedPorts
	t.Cleanup(func() { unprivilegedPortStart, canBindPrivilegedPorts = start, can })
	portStart, readable, capable := 1024, true, false
	unprivilegedPortStart = func() (int, bool) { return portStart, readable }
	canBindPrivilegedPorts = func() bool { return capable }

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p.yml")
	write := func(listen string) {
		t.Helper()
		doc := "exoscale:\n  api_key: EXOaaaaaaaaaaaaaaaaaaaaaaaa\n  api_secret: s\nstate_dir: st\nlisten: \"" + listen + "\"\npolicies:\n  - name: ci\n    match: {name: ci-*}\n    sinks:\n      - type: file\n        path: out/{{.Name}}.json\n"
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	getenv := func(string) string { return "" }
	validate := func(host bool) error {
		_, _, err := Validate(path, ValidateOptions{Host: host, Getenv: getenv})
		return err
	}

	for _, listen := range []string{"127.0.0.1:80", ":443"} {
		write(listen)
		err := validate(true)
		if err == nil {
			t.Errorf("listen %s without CAP_NET_BIND_SERVICE: validate passed, run cannot bind it", listen)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, path+":5: listen:") || !strings.Contains(msg, listen) || !strings.Contains(msg, "CAP_NET_BIND_SERVICE") {
			t.Errorf("listen %s: error %q does not name %s:5, listen, the address and the capability", listen, msg, path)
		}
		if err := validate(false); err != nil {
			t.Errorf("listen %s, the file alone: %v", listen, err)
		}
	}

	write("127.0.0.1:80")
	capable = true
	if err := validate(true); err != nil {
		t.Errorf("listen 127.0.0.1:80 with CAP_NET_BIND_SERVICE: %v", err)
	}
	capable, portStart = false, 80
	if err := validate(true); err != nil {
		t.Errorf("listen 127.0.0.1:80 with ip_unprivileged_port_start 80: %v", err)
	}
	portStart, readable = 1024, false
	if err := validate(true); err != nil {
		t.Errorf("listen 127.0.0.1:80, the sysctl unreadable: %v, want no guess", err)
	}
	readable = true
	for _, listen := range []string{"127.0.0.1:1024", "127.0.0.1:9108", "127.0.0.1:0"} {
		write(listen)
		if err := validate(true); err != nil {
			t.Errorf("listen %s: %v", listen, err)
		}
	}
}
