package config

import (
	"strings"
	"testing"
)

// TestScheduleWarningForMaxAgeBelowTheMinimumGivesAdviceThatCanBeFollowed:
// a max_age shorter than the shortest time allowed between runs (10s) was
// warned about with "(run the policy at least every 5s)", a schedule the
// same validate refuses. The warning says instead that every run then
// rotates every key the policy manages.
func TestScheduleWarningForMaxAgeBelowTheMinimumGivesAdviceThatCanBeFollowed(t *testing.T) {
	file := writePolicy(t, "policies:\n  - name: p\n    match:\n      name: ci-*\n    schedule: \"@every 10s\"\n    max_age: 5s\n    sinks:\n      - type: file\n        path: /x/{{.Name}}\n")
	cfg, warns, err := Validate(file, ValidateOptions{Getenv: env(nil)})
	if err != nil || cfg == nil {
		t.Fatalf("Validate() = %v: a warning must not stop run", err)
	}
	if len(warns) != 1 {
		t.Fatalf("warnings = %v, want one", warns)
	}
	w := warns[0].Error()
	if strings.Contains(w, "at least every 5s") {
		t.Errorf("warning %q advises a schedule below the 10s minimum, which validate refuses", w)
	}
	for _, want := range []string{file + ":5: policies[0].schedule:", "max_age 5s", "10s", "every run rotates every key"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
}
