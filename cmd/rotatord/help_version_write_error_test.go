package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestHelpAndVersionOnAFullStdout: what the CLI prints itself (help, the
// version) on a stdout that takes no write (a full
// disk, /dev/full) is a failure, told once on stderr as every other
// failure is, with exit status 1 (the README: "0, 1 when something failed,
// 2 for a usage error"). Seen from the outside: `rotatord --help >
// /dev/full` panicked with a goroutine dump (kingpin panics with the
// usage template's write error), and `rotatord version > /dev/full` said
// nothing and exited 0.
func TestHelpAndVersionOnAFullStdout(t *testing.T) {
	for _, args := range [][]string{
		{"--help"},
		{"help", "run"},
		{"run", "--help"},
		{"--version"},
		{"version"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			code, panicked := func() (code int, panicked any) {
				defer func() { panicked = recover() }()
				return run(args, fullStdout{}, &stderr), nil
			}()
			if panicked != nil {
				t.Fatalf("run panicked: %v (stderr %q)", panicked, stderr.String())
			}
			want := "rotatord: write /dev/stdout: no space left on device\n"
			if code != 1 || stderr.String() != want {
				t.Errorf("run = %d, stderr %q; want 1 and %q", code, stderr.String(), want)
			}
		})
	}
}

// The same commands on a stdout that works still exit 0 and say nothing
// on stderr, so the check above is not met by failing them all.
func TestHelpAndVersionOnAWorkingStdout(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help", "run"}, {"run", "--help"}, {"--version"}, {"version"}} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		if code != 0 || stdout.Len() == 0 || stderr.Len() != 0 {
			t.Errorf("%s: run = %d, %d bytes out, stderr %q; want 0, some output, nothing on stderr", fmt.Sprint(args), code, stdout.Len(), stderr.String())
		}
	}
}
