package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestListenAddressExampleStarts: the example the help and the README give
// for a repeated --web.listen-address (":9108" then "[::1]:9108") could
// not start: on Linux ":9108" is bound on every address of both IPv4 and
// IPv6, [::1] included, so the second bind failed (address already in
// use) and run stopped. Every example given must bind, in its order, on
// this host (the port replaced by a free one).
func TestListenAddressExampleStarts(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	var help string
	for _, cmd := range newCLI(nil, nil).app.Model().Commands {
		if cmd.Name != "run" {
			continue
		}
		for _, f := range cmd.Flags {
			if f.Name == "web.listen-address" {
				help = f.Help
			}
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example := regexp.MustCompile("--web\\.listen-address=([^\\s)`;,]+)\\s+--web\\.listen-address=([^\\s)`;,]+)")
	for _, src := range []struct{ name, text string }{{"run's --web.listen-address help", help}, {"README.md", string(readme)}} {
		ms := example.FindAllStringSubmatch(src.text, -1)
		if len(ms) == 0 {
			t.Errorf("%s gives no example of a repeated --web.listen-address", src.name)
		}
		for _, m := range ms {
			if err := bindInTurn(m[1:]); err != nil {
				t.Errorf("%s: example %q does not start: %v", src.name, strings.Join(strings.Fields(m[0]), " "), err)
			}
		}
	}
}

// bindInTurn binds addrs one after the other, each with the same port, a
// free one, and lets them go. A first address that cannot be bound is
// tried again with another port (someone took the free one meanwhile):
// only a later one's failure is the example's.
func bindInTurn(addrs []string) error {
	for attempt := 0; ; attempt++ {
		// A port free on every address, IPv4 and IPv6.
		free, err := net.Listen("tcp", ":0")
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(free.Addr().String())
		free.Close()
		var held []net.Listener
		err = nil
		for i, addr := range addrs {
			host, _, perr := net.SplitHostPort(addr)
			if perr != nil {
				err = perr
				break
			}
			ln, lerr := net.Listen("tcp", net.JoinHostPort(host, port))
			if lerr != nil {
				if i == 0 && attempt < 5 {
					err = errRetry
				} else {
					err = fmt.Errorf("%s: %w", addr, lerr)
				}
				break
			}
			held = append(held, ln)
		}
		for _, ln := range held {
			ln.Close()
		}
		if err != errRetry {
			return err
		}
	}
}

var errRetry = errors.New("retry")
