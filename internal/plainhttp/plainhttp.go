// Package plainhttp owns the one rule rotatord applies wherever secrets
// cross HTTP (the Exoscale endpoint and where it redirects, a Vault
// address and its redirects, a kubeconfig's server and its redirects, a
// webhook): plain http only to loopback. One rule, so that an address one
// of them takes is not refused by another.
package plainhttp

import (
	"net"
	"net/url"
	"strings"
)

// Loopback reports whether host, a URL's Hostname() (no port, no
// brackets), is loopback: the name localhost in any case, or a loopback
// address (127.0.0.0/8, ::1, and 127.x written IPv4-mapped). Nothing is
// resolved: a name is loopback only if it is localhost, so a name whose
// resolution someone else controls, "localhost." (sent to the resolver
// as it is) included, is not.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") { // host names know no case
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ToNetwork reports whether u is plain http to a host that is not
// loopback: what crosses it can be read, and changed, on the way.
func ToNetwork(u *url.URL) bool {
	return u.Scheme == "http" && !Loopback(u.Hostname())
}
