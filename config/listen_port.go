package config

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capNetBindService is CAP_NET_BIND_SERVICE's bit in a capability set.
const capNetBindService = 10

// unprivilegedPortStart returns the lowest port a process without
// CAP_NET_BIND_SERVICE may bind (net.ipv4.ip_unprivileged_port_start, per
// network namespace), and false when it cannot be read (a sandbox with
// ProcSubset=pid hides /proc/sys): the check is then left out rather than
// guessed. A variable, so that tests can set it.
var unprivilegedPortStart = func() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// canBindPrivilegedPorts tells whether this process has
// CAP_NET_BIND_SERVICE in its effective set (root has it unless a
// bounding set took it away). A variable, so that tests can set it.
var canBindPrivilegedPorts = func() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return true // cannot tell: leave it to run
	}
	return data[0].Effective&(1<<capNetBindService) != 0
}
