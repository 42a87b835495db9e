package config

import (
	"strings"
	"testing"
)

// TestRateLimitBelowOneRequestAMinuteIsWarned: rate_limit is the ceiling
// of the request rate, and a finite number > 0 passed validate without a
// word however small: 0.00001 lets one request through every 27 hours
// after the first ten, so run's first pass would last days. validate
// warns (it does not refuse: a slow ceiling may be meant).
func TestRateLimitBelowOneRequestAMinuteIsWarned(t *testing.T) {
	file := writePolicy(t, "exoscale:\n  rate_limit: 0.00001\npolicies:\n  - name: p\n    match:\n      name: ci-*\n    sinks:\n      - type: file\n        path: /x/{{.Name}}\n")
	cfg, warns, err := Validate(file, ValidateOptions{Getenv: env(nil)})
	if err != nil || cfg == nil {
		t.Fatalf("Validate() = %v: a warning must not stop run", err)
	}
	if len(warns) != 1 {
		t.Fatalf("warnings = %v, want one about rate_limit", warns)
	}
	w := warns[0].Error()
	for _, want := range []string{file + ":2: exoscale.rate_limit:", "0.00001", "27h46m"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
}
