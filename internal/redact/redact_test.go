package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ give, want string }{
		{"https://api-ch-gva-2.exoscale.com/v2", "https://api-ch-gva-2.exoscale.com/v2"},
		{"https://user:hunter2@api.example.com/v2", "https://xxxxx@api.example.com/v2"},
		{"https://TOKEN@api.example.com/v2", "https://xxxxx@api.example.com/v2"},
		{"https://u:a/b?c#d@api.example.com/v2", "https://xxxxx@api.example.com/v2"},
		{"https://api.example.com/v2?token=hunter2", "https://api.example.com/v2"},
		{"http://v:%zz@vault:82OO", "http://xxxxx@vault:82OO"},
		{"user:hunter2@host", "xxxxx@host"},
		{"unix:///run/vault.sock", "unix:///run/vault.sock"},
	}
	for _, tt := range tests {
		got := URL(tt.give)
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.give, got, tt.want)
		}
		for _, s := range []string{"hunter2", "TOKEN", "%zz"} {
			if strings.Contains(tt.give, s) && strings.Contains(got, s) {
				t.Errorf("URL(%q) = %q keeps %q", tt.give, got, s)
			}
		}
	}
}

func TestURLWithAnAtInTheQuery(t *testing.T) {
	for raw, want := range map[string]string{
		"https://h/x?email=a@b&token=SEKRET":  "https://h/x",
		"https://u:pw@h/x?token=SEKRET":       "https://xxxxx@h/x",
		"https://h:8443/hook#frag@with-token": "https://h:8443/hook",
	} {
		if got := URL(raw); got != want {
			t.Errorf("URL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestOriginKeepsOnlySchemeAndHost(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.example/services/T0/B0/TOKEN":     "https://hooks.example/…",
		"https://user:pw@hooks.example:8443/x?token=abc": "https://xxxxx@hooks.example:8443/…",
		"https://hooks.example":                          "https://hooks.example",
		"https://hooks.example/":                         "https://hooks.example",
		"hooks.example/services/TOKEN":                   "hooks.example/…",
		"http://[::1]:9/p%2Fq/TOKEN":                     "http://[::1]:9/…",
		"https://a b/TOKEN":                              "https://a b/…",
	} {
		if got := Origin(raw); got != want {
			t.Errorf("Origin(%q) = %q, want %q", raw, got, want)
		}
	}
}

// A webhook URL written with backslashes (pasted from a Windows path
// habit) does not parse, and its path is still the token.
func TestOriginOfAURLWithBackslashes(t *testing.T) {
	if got := Origin(`https://hooks.example\services\T0\TOKEN`); strings.Contains(got, "TOKEN") {
		t.Errorf("Origin shows the path: %q", got)
	}
}
