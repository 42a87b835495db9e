// Package version owns rotatord's build identity: the version string set at
// link time and the User-Agent derived from it.
package version

import "runtime/debug"

// Version is set with -ldflags "-X github.com/rotatord/rotatord/internal/version.Version=v1.2.3".
var Version = ""

// String returns the version, falling back to the module version recorded by
// the Go toolchain, then to "dev".
func String() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// UserAgent is the product token rotatord sends to the APIs it calls.
func UserAgent() string { return "rotatord/" + String() }
