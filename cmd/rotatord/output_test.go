package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rotatord/rotatord/rotation"
)

var outputNow = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// TestPrintOutcomesOrdinary pins the table for ordinary names: escaping must
// not change a byte of it.
func TestPrintOutcomesOrdinary(t *testing.T) {
	var buf bytes.Buffer
	printOutcomes(&buf, []rotation.Outcome{
		{
			Policy: "ci", Name: "ci-runner", KeyIDs: []string{"EXO1"},
			Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonFresh, Due: outputNow.Add(90 * time.Minute)},
		},
		{
			Policy: "ci", Name: "ci-deploy@prod.example:a+b=c", KeyIDs: []string{"EXO2", "EXO3"},
			Decision: rotation.Decision{Action: rotation.ActionRotate, Reason: rotation.ReasonExpired},
			Err:      errors.New(`create key "ci-deploy@prod.example:a+b=c": 503 Service Unavailable`),
		},
		{Policy: "backup-keys", Name: "backup_1", Decision: rotation.Decision{Action: rotation.ActionSkip}},
	}, outputNow)
	want := `POLICY       NAME                          KEYS  ACTION  REASON                NEXT        ERROR
ci           ci-runner                     1     none    younger than max_age  in 1h30m0s  -
ci           ci-deploy@prod.example:a+b=c  2     rotate  older than max_age    -           create key "ci-deploy@prod.example:a+b=c": 503 Service Unavailable
backup-keys  backup_1                      0     skip    -                     -           -
`
	if got := buf.String(); got != want {
		t.Errorf("table changed:\n got:\n%s\nwant:\n%s", got, want)
	}
}

// TestPrintOutcomesHostileNames: a key name (or an error quoting it) with
// terminal escapes, carriage returns, newlines, tabs or invisible runes
// cannot erase a line, forge a row or shift a column.
func TestPrintOutcomesHostileNames(t *testing.T) {
	hostile := []struct {
		name string
		want string // how the NAME cell shows it
	}{
		{"ci-x\x1b[2K\rci-prod\t1\tnone", `"ci-x\x1b[2K\rci-prod\t1\tnone"`},
		{"ci-y\nci\tci-forged\t1\tnone\tyounger than max_age", `"ci-y\nci\tci-forged\t1\tnone\tyounger than max_age"`},
		{"ci-z\u009b2K", `"ci-z\u009b2K"`},       // 8-bit CSI
		{"ci-w\x9b2K", `"ci-w\x9b2K"`},           // the same byte, not UTF-8
		{"ci-\u202eetaerc", `"ci-\u202eetaerc"`}, // right-to-left override
		{"ci-\u200bzero", `"ci-\u200bzero"`},
		{"ci-a  1  none", `"ci-a  1  none"`},
		{"ci-\xff\xfe", `"ci-\xff\xfe"`},
		{`"ci-quoted"`, `"\"ci-quoted\""`},
		{"ci-\x7f\x08\x07", `"ci-\x7f\b\a"`},
		{"", `""`},
	}
	var out []rotation.Outcome
	for _, h := range hostile {
		out = append(out, rotation.Outcome{
			Policy:   "ci\x1b]0;title\x07",
			Name:     h.name,
			KeyIDs:   []string{"EXO1"},
			Decision: rotation.Decision{Action: rotation.ActionRotate, Reason: "older\rthan\x1b[1A max_age"},
			Err:      errors.New("deliver " + h.name + ": \x1b[31mfailed\x1b[0m\tagain"),
		})
	}
	var buf bytes.Buffer
	printOutcomes(&buf, out, outputNow)
	text := buf.String()

	if !utf8.ValidString(text) {
		t.Errorf("output is not valid UTF-8: %q", text)
	}
	for i, r := range text {
		if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 || r == '\u202e' || r == '\u200b' {
			t.Fatalf("output holds %U at byte %d: %q", r, i, text)
		}
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != len(hostile)+1 {
		t.Fatalf("%d lines for %d outcomes:\n%s", len(lines), len(hostile), text)
	}
	for i, h := range hostile {
		line := lines[i+1]
		fields := strings.Fields(line)
		if len(fields) < 4 {
			t.Errorf("row %d is %q", i, line)
			continue
		}
		if got, want := fields[0], `"ci\x1b]0;title\a"`; got != want {
			t.Errorf("row %d: POLICY = %s, want %s", i, got, want)
		}
		if !strings.Contains(line, "  "+h.want+"  ") {
			t.Errorf("row %d: NAME not shown as %s: %q", i, h.want, line)
		}
		if !strings.Contains(line, `  "older\rthan\x1b[1A max_age"  `) {
			t.Errorf("row %d: REASON not escaped: %q", i, line)
		}
		if !strings.HasSuffix(line, `\x1b[31mfailed\x1b[0m\tagain"`) {
			t.Errorf("row %d: ERROR not escaped: %q", i, line)
		}
	}
	// Every row has its columns where the header has them.
	keysAt := strings.Index(lines[0], "KEYS")
	for i, line := range lines[1:] {
		if keysAt >= len(line) || line[keysAt:keysAt+2] != "1 " {
			t.Errorf("row %d: KEYS column not at %d: %q", i, keysAt, line)
		}
	}
}

func TestCell(t *testing.T) {
	for _, tt := range []struct {
		give string
		word bool
		want string
	}{
		{"ci-runner", true, "ci-runner"},
		{"dév-clé", true, "dév-clé"}, // printable Unicode stays
		{"a b", true, `"a b"`},
		{"a b", false, "a b"},
		{"", true, `""`},
		{"", false, ""},
		{`say "hi"`, false, `say "hi"`},
		{`"hi"`, false, `"\"hi\""`},
		{"a\u00a0b", false, `"a\u00a0b"`}, // a space that is not ASCII
		{"tab\there", false, `"tab\there"`},
	} {
		if got := cell(tt.give, tt.word); got != tt.want {
			t.Errorf("cell(%q, %v) = %s, want %s", tt.give, tt.word, got, tt.want)
		}
	}
}
