package config

import "testing"

// Host names are case-insensitive: http://LOCALHOST:8080/v2 (or
// Localhost) is as much loopback as http://localhost:8080/v2, yet it was
// refused as "plain http to a host that is not loopback".
func TestCheckTransportLocalhostAnyCase(t *testing.T) {
	for _, u := range []string{"http://LOCALHOST:8080/v2", "http://Localhost:8200"} {
		if err := CheckTransport(u, false); err != nil {
			t.Errorf("CheckTransport(%q) = %v, want nil (loopback)", u, err)
		}
	}
	if err := CheckTransport("http://localhost.example.com:8080/v2", false); err == nil {
		t.Errorf("CheckTransport(localhost.example.com) = nil, want the plain-http refusal")
	}
}
