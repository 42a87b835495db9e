package daemon

import (
	"strings"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// notify tells systemd (a Type=notify unit, deploy/systemd) where the
// daemon stands: READY=1 once it serves and takes reloads, RELOADING=1
// then READY=1 around a reload, STOPPING=1 when it stops. Until READY=1,
// systemd neither counts the start as done nor runs ExecReload: a
// `systemctl reload` right after a start waits instead of sending a SIGHUP
// the process may not yet handle. Outside systemd (no NOTIFY_SOCKET) it
// does nothing. The states carry no error text: STATUS= is shown to anyone
// who may run systemctl status.
func (d *Daemon) notify(states ...string) {
	if _, err := sdnotify.SdNotify(false, strings.Join(states, "\n")); err != nil {
		// The service manager is unreachable: it times the start out and
		// says so; the daemon itself works on.
		d.log.Warn("cannot notify systemd", zap.Error(err))
	}
}

func (d *Daemon) notifyReady(listen string) {
	d.notify(sdnotify.SdNotifyReady, "STATUS=serving on "+listen)
}

func (d *Daemon) notifyReloading() {
	// systemd 253 and later want the reload's start on the monotonic
	// clock, to tell this reload's READY=1 from an earlier one's.
	d.notify(sdnotify.SdNotifyReloading, strings.TrimSpace(sdnotify.SdNotifyMonotonicUsec()))
}

func (d *Daemon) notifyReloaded(err error) {
	status := "STATUS=configuration reloaded"
	if err != nil {
		status = "STATUS=last reload rejected; the previous configuration is in force (see the log)"
	}
	d.notify(sdnotify.SdNotifyReady, status)
}

func (d *Daemon) notifyStopping() {
	d.notify(sdnotify.SdNotifyStopping, "STATUS=stopping")
}
