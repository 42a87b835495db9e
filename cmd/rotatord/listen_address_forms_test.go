package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevServesOnEveryAddressForm: `dev --web.listen-address :PORT` (every
// interface, as in a container) or an IPv6 address wrote the bound address
// unquoted into the demo's policy file ("listen: [::]:PORT", a YAML flow
// sequence), and the demo failed on the file it had just written.
func TestDevServesOnEveryAddressForm(t *testing.T) {
	for _, addr := range []string{":0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dev")
			err := cmdDev([]string{"--dir", dir, "--duration", "1ms", "--web.listen-address", addr, "--log.level", "error"}, io.Discard, io.Discard)
			if err != nil && strings.Contains(err.Error(), "cannot assign requested address") {
				t.Skipf("no such address here: %v", err)
			}
			if err != nil {
				t.Fatalf("dev --web.listen-address %s: %v", addr, err)
			}
		})
	}
}

// TestEmptyWebFlagsAreUsageErrors: `--web.config.file "$WEB"` with WEB
// unset served plain HTTP without the basic auth the operator meant, and
// an empty --web.listen-address fell back to another address (the file's,
// or for dev every interface): each is a usage error, as an empty
// --config.file is.
func TestEmptyWebFlagsAreUsageErrors(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "dev")
	for _, args := range [][]string{
		{"run", "--config.file", "/nonexistent/rotatord.yml", "--web.config.file", ""},
		{"run", "--config.file", "/nonexistent/rotatord.yml", "--web.listen-address="},
		{"dev", "--dir", dev, "--web.listen-address", ""},
		{"dev", "--dir", dev, "--listen", ""},
	} {
		code, _, stderr := runCLI(args...)
		flag := "web.listen-address"
		if strings.Contains(strings.Join(args, " "), "web.config.file") {
			flag = "web.config.file"
		} else if args[len(args)-2] == "--listen" {
			flag = "listen"
		}
		if code != 2 || !strings.Contains(stderr, "--"+flag) || !strings.Contains(stderr, "empty") {
			t.Errorf("rotatord %q = %d, stderr %q; want a usage error (2) naming --%s as empty", args, code, stderr, flag)
		}
	}
}
