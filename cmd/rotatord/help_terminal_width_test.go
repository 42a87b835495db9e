//go:build linux

package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHelpOnATerminalFitsItsWidth: kingpin wraps the help to the width of
// the terminal it prints to (without COLUMNS in the environment, which a
// shell sets but does not export). 3f08044 gave kingpin a writer of its
// own in front of stdout (to keep a write error), which is no *os.File:
// kingpin could no longer ask the terminal, and wrapped at 80 columns on
// any terminal, a narrower one cutting the lines again.
func TestHelpOnATerminalFitsItsWidth(t *testing.T) {
	const cols = 60
	for _, args := range [][]string{{"--help"}, {"help", "run"}, {"run", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Setenv("COLUMNS", strconv.Itoa(cols))
			var want bytes.Buffer
			if code := run(args, &want, io.Discard); code != 0 {
				t.Fatalf("run with COLUMNS=%d = %d", cols, code)
			}
			t.Setenv("COLUMNS", "") // kingpin takes "" as unset
			got, code := runOnATerminal(t, cols, args)
			if code != 0 {
				t.Fatalf("run on a terminal = %d", code)
			}
			if got != want.String() {
				t.Errorf("help on a %d-column terminal is not wrapped to it:\n%s\nwant:\n%s", cols, got, want.String())
			}
		})
	}
}

// runOnATerminal runs the CLI in-process with a pseudo-terminal of the
// given width as stdout, and returns what it printed (line ends as
// written, without the terminal's carriage returns).
func runOnATerminal(t *testing.T, cols int, args []string) (string, int) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open the terminal: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: uint16(cols)}); err != nil {
		tty.Close()
		t.Fatalf("set the terminal's size: %v", err)
	}
	read := make(chan []byte)
	go func() {
		// Until the terminal's last descriptor closes (EIO then).
		b, _ := io.ReadAll(ptmx)
		read <- b
	}()
	code := run(args, tty, io.Discard)
	tty.Close()
	return strings.ReplaceAll(string(<-read), "\r\n", "\n"), code
}
