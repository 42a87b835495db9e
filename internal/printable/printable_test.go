package printable

import (
	"bytes"
	"testing"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		give         string
		escape, line string
		lines        string
	}{
		{give: "ci-runner: ok", escape: "ci-runner: ok", line: "ci-runner: ok", lines: "ci-runner: ok"},
		{give: "é ü 日本", escape: "é ü 日本", line: "é ü 日本", lines: "é ü 日本"},
		{give: "bad\x1b[2K\rok", escape: `bad\u001b[2K\u000dok`, line: `bad\u001b[2K\u000dok`, lines: `bad\u001b[2K\u000dok`},
		{give: "a\nb\tc", escape: "a\nb\tc", line: `a\u000ab\u0009c`, lines: "a\n  b\tc"},
		{give: "csi\u009b2J", escape: `csi\u009b2J`, line: `csi\u009b2J`, lines: `csi\u009b2J`},
		{give: "rtl\u202eoverride", escape: `rtl\u202eoverride`, line: `rtl\u202eoverride`, lines: `rtl\u202eoverride`},
		{give: "bad\xffbyte", escape: `bad\ufffdbyte`, line: `bad\ufffdbyte`, lines: `bad\ufffdbyte`},
		{give: "del\x7f", escape: `del\u007f`, line: `del\u007f`, lines: `del\u007f`},
		{give: "tag\U000e0041", escape: `tag\udb40\udc41`, line: `tag\udb40\udc41`, lines: `tag\udb40\udc41`},
	}
	for _, tt := range tests {
		if got := Escape(tt.give); got != tt.escape {
			t.Errorf("Escape(%q) = %q, want %q", tt.give, got, tt.escape)
		}
		if got := Line(tt.give); got != tt.line {
			t.Errorf("Line(%q) = %q, want %q", tt.give, got, tt.line)
		}
		if got := Lines(tt.give); got != tt.lines {
			t.Errorf("Lines(%q) = %q, want %q", tt.give, got, tt.lines)
		}
		var buf bytes.Buffer
		n, err := Writer{W: &buf}.Write([]byte(tt.give))
		if err != nil || n != len(tt.give) || buf.String() != tt.escape {
			t.Errorf("Writer.Write(%q) = %d, %v, wrote %q; want %d, nil, %q", tt.give, n, err, buf.String(), len(tt.give), tt.escape)
		}
	}
}
