//go:build linux

package secret

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A terminal planted at a secret file's path (a link to a pseudo-terminal
// someone opened): rotatord, a session leader without a terminal (as
// systemd starts it), would take it as its controlling terminal by merely
// opening it, and its owner could then stop rotatord from the other end
// (^C, ^Z, a hang-up). The file is refused as a device, and opened
// without becoming anyone's terminal (O_NOCTTY), as the file sink opens.
func TestOpeningATerminalAtASecretPathDoesNotMakeItRotatordsTerminal(t *testing.T) {
	if tty := os.Getenv("ROTATORD_TEST_SECRET_TTY"); tty != "" {
		// The child: a session leader with no terminal.
		_, err := ReadFile(tty, FileOptions{})
		var nr *NotRegularError
		if !errors.As(err, &nr) {
			os.Exit(4)
		}
		if f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
			f.Close()
			os.Exit(3) // it has a controlling terminal now
		}
		os.Exit(0)
	}
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
	tty := "/dev/pts/" + strconv.Itoa(n)
	child := exec.Command(os.Args[0], "-test.run=^TestOpeningATerminalAtASecretPathDoesNotMakeItRotatordsTerminal$")
	child.Env = append(os.Environ(), "ROTATORD_TEST_SECRET_TTY="+tty)
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = child.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		t.Fatalf("opening %s as a secret file made it the controlling terminal of a session leader: its owner could stop rotatord with ^C or ^Z", tty)
	case errors.As(err, &exit) && exit.ExitCode() == 4:
		t.Fatalf("ReadFile(%s) did not refuse a terminal as a device", tty)
	default:
		t.Fatal(err)
	}
}
