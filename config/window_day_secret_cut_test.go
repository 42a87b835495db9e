package config

import (
	"strings"
	"testing"
)

// TestUnknownDayIsNotQuotedWhole: a secret pasted into a window's days is
// cut in the message as it is in any other field. The day was quoted
// lower-cased, a word the file does not hold, so the cut of long words
// from the file passed it whole: the secret but for the case of its
// letters.
func TestUnknownDayIsNotQuotedWhole(t *testing.T) {
	const secret = "Ab3dEf5hIj7lMn9pQr1tUv3xYz5bCd7fGh9jKl1nOp3"
	for _, days := range []string{"[" + secret + "]", "[mon-" + secret + "]", "[\" " + secret + "\"]"} {
		doc := "policies:\n  - name: a\n    match: {name: x}\n    sinks: [{type: file, path: /tmp/x.json}]\n" +
			"    windows: [{days: " + days + ", start: \"09:00\", end: \"16:00\"}]\n"
		_, err := Parse([]byte(doc), "f.yml", "/tmp")
		if err == nil {
			t.Errorf("days: %s: no error", days)
			continue
		}
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(secret)) {
			t.Errorf("days: %s: the secret is quoted whole:\n%v", days, err)
		}
		if !strings.Contains(err.Error(), "f.yml:5:") || !strings.Contains(err.Error(), "unknown day") || !strings.Contains(err.Error(), secret[:maxEcho]+"…") {
			t.Errorf("days: %s: want f.yml:5: unknown day and the value cut as written, got:\n%v", days, err)
		}
	}
}
