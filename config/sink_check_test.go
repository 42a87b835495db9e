package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSinkCheck(t *testing.T) {
	base := `state_dir: /var/lib/rotatord
exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s}
policies:
  - name: ci
    match: {name: "ci-*"}
%s    sinks: [{type: file, path: "/run/ci/{{.Name}}.json"}]
`
	for _, tc := range []struct {
		line string
		want time.Duration
	}{
		{"", 0},
		{"    sink_check: 15m\n", 15 * time.Minute},
		{"    sink_check: 0s\n", 0},
	} {
		cfg, err := Parse([]byte(fmt.Sprintf(base, tc.line)), "rotatord.yml", "/etc")
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := cfg.Policies[0].SinkCheck.Duration(); got != tc.want {
			t.Errorf("%q: sink_check %s, want %s", tc.line, got, tc.want)
		}
	}
	_, err := Parse([]byte(fmt.Sprintf(base, "    sink_check: -5m\n")), "rotatord.yml", "/etc")
	if want := "rotatord.yml:6: policies[0].sink_check: must not be negative, got -5m"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("negative sink_check: got %v, want %s", err, want)
	}
}
