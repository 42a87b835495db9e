package config

import (
	"strings"
	"testing"
)

// time_zone: Local is not an IANA name: Go reads it as the process's TZ,
// so the same file would open its windows at different hours on different
// hosts. It is refused, naming the file, line, field and value (issue #14).
func TestWindowTimeZoneLocalIsRefused(t *testing.T) {
	for _, zone := range []string{"Local", "localtime"} {
		checkZoneRefused(t, zone)
	}
}

// checkZoneRefused: a window in zone, which names the host's zone, is
// refused (Debian's zoneinfo links "localtime" to /etc/localtime).
func checkZoneRefused(t *testing.T, zone string) {
	t.Helper()
	doc := `state_dir: /var/lib/rotatord
exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s}
policies:
  - name: ci
    match: {name: "ci-*"}
    max_age: 30d
    windows:
      - {days: [mon-fri], start: "09:00", end: "16:00", time_zone: ` + zone + `}
    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
`
	_, err := Parse([]byte(doc), "rotatord.yml", "/etc")
	if err == nil {
		t.Fatalf("time_zone: %s accepted, want it refused", zone)
	}
	for _, want := range []string{"rotatord.yml:8", "policies[0].windows[0].time_zone", `"` + zone + `"`, "IANA", "UTC"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
