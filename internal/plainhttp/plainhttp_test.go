package plainhttp

import (
	"net/url"
	"testing"
)

func TestToNetwork(t *testing.T) {
	for _, c := range []struct {
		url     string
		network bool
	}{
		{"http://127.0.0.1:8080/v2", false},
		{"http://127.0.0.2", false},
		{"http://localhost:8200", false},
		{"http://LOCALHOST", false},
		{"http://LocalHost:1", false},
		{"http://[::1]:8001", false},
		{"http://[::ffff:127.0.0.1]:80", false},
		{"HTTP://127.0.0.1", false}, // url.Parse lowers the scheme
		{"https://192.0.2.9", false},
		{"https://example.com", false},
		{"http://192.0.2.9:8080", true},
		{"http://example.com", true},
		{"http://localhost.:8080", true}, // a name the resolver is asked for
		{"http://localhost.example.com", true},
		{"http://127.0.0.1.nip.io", true},
		{"http://[::ffff:192.0.2.9]", true},
		{"http://[fe80::1%25lo]:80", true},
		{"http://0.0.0.0:80", true},
		{"http://user:pw@192.0.2.9", true},
		{"http://[::1%25lo]:80", true}, // a zone: not parsed as an address
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if got := ToNetwork(u); got != c.network {
			t.Errorf("ToNetwork(%s) = %v, want %v", c.url, got, c.network)
		}
	}
}
