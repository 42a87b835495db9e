package main

import (
	"bytes"
	"fmt"
	"os"
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

// The helps kingpin writes to os.Stdout itself, whatever the application's
// writer (--help-long and --help-man, which every help names, and the
// completion scripts the README sources), on a stdout that takes no
// write: a failure, status 1 and the error on one stderr line, as for
// --help; not a usage error (2) with a "Try 'rotatord help'" after it,
// which says the command line was wrong.
func TestKingpinsOwnHelpsOnAFullStdout(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	for _, flag := range []string{"--help-long", "--help-man", "--completion-script-bash", "--completion-script-zsh"} {
		t.Run(flag, func(t *testing.T) {
			var stderr bytes.Buffer
			saved := os.Stdout
			os.Stdout = full
			defer func() { os.Stdout = saved }()
			code := run([]string{flag}, fullStdout{}, &stderr)
			want := "rotatord: write /dev/full: no space left on device\n"
			if code != 1 || stderr.String() != want {
				t.Errorf("run = %d, stderr %q; want 1 and %q", code, stderr.String(), want)
			}
		})
	}
}
