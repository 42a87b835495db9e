package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that YAML spells in Prometheus's syntax
// ("90m", "12h", "30d", "1w", "1y", "1d12h", "0"), or as a Go duration
// ("1h30m", "1.5h", "300ms"), or a day count followed by a Go duration
// ("1d1.5h", accepted before Prometheus's syntax was), with an optional
// sign in front of everything. A year is 365 days and a week 7, as in
// Prometheus.
//
// It and FileMode are the only types here with UnmarshalYAML: yaml.v3 drops
// KnownFields below a custom unmarshaler, so structs must not have one.
type Duration time.Duration

const day = 24 * time.Hour

var (
	// promDuration is the shape model.ParseDuration accepts: units from the
	// largest to the smallest, each at most once. A string of this shape it
	// refuses is out of range.
	promDuration = regexp.MustCompile(`^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$`)
	// legacyDays is a day count and a Go duration after it ("1d1.5h").
	legacyDays = regexp.MustCompile(`^([0-9]+)d([0-9.].*)$`)
)

// ParseDuration parses a duration in Prometheus's syntax
// (model.ParseDuration) or Go's (time.ParseDuration), or a day count
// followed by a Go duration, with an optional sign in front of everything.
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("invalid duration %q (want e.g. 90m, 12h, 30d, 1w or 1d12h)", s)
	if isDigits(s) && s != "0" {
		return 0, fmt.Errorf("invalid duration %q: a number needs a unit (%ss, %sm, %sh or %sd)", s, s, s, s, s)
	}
	tooLong := fmt.Errorf("duration %q: too long", s)
	rest := s
	neg := false
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	if rest == "" || rest[0] == '-' || rest[0] == '+' {
		// time.ParseDuration takes a sign of its own; only one is allowed.
		return 0, bad
	}
	var d time.Duration
	switch m := legacyDays.FindStringSubmatch(rest); {
	case promDuration.MatchString(rest):
		p, err := model.ParseDuration(rest)
		if err != nil {
			return 0, tooLong
		}
		d = time.Duration(p)
	case m != nil:
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > int64(math.MaxInt64/day) {
			return 0, tooLong
		}
		r, err := time.ParseDuration(m[2])
		if err != nil || m[2][0] == '-' || m[2][0] == '+' {
			return 0, bad
		}
		d = time.Duration(n) * day
		if d > math.MaxInt64-r {
			return 0, tooLong
		}
		d += r
	default:
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, bad
		}
		d = r
	}
	if neg {
		d = -d
	}
	return Duration(d), nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String returns the Go duration string ("720h0m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "want a duration such as 90m, 12h, 30d or 1w, got a %s", kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return nodeError(n, "%v", err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// FileMode is a file permission written as an octal string: "0600", "600"
// or "0o600". YAML 1.1 would read a bare 0600 as octal and 600 as decimal;
// FileMode reads the digits as octal either way.
type FileMode fs.FileMode

// ParseFileMode parses an octal permission string.
func ParseFileMode(s string) (FileMode, error) {
	digits := s
	if len(digits) > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O') {
		digits = digits[2:]
	}
	if !isDigits(digits) {
		return 0, fmt.Errorf("invalid mode %q (want an octal string such as \"0600\")", s)
	}
	m, err := strconv.ParseUint(digits, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid mode %q (want an octal string such as \"0600\")", s)
	}
	return FileMode(m), nil
}

// Perm returns m as an fs.FileMode.
func (m FileMode) Perm() fs.FileMode { return fs.FileMode(m) }

// String returns m in octal with a leading zero ("0600").
func (m FileMode) String() string { return "0" + fmt.Sprintf("%03o", uint32(m)) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (m *FileMode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "want a file mode such as \"0600\", got a %s", kindName(n))
	}
	v, err := ParseFileMode(n.Value)
	if err != nil {
		return nodeError(n, "%v", err)
	}
	*m = v
	return nil
}

// MarshalYAML implements yaml.Marshaler. The string form keeps the value
// octal for any reader.
func (m FileMode) MarshalYAML() (any, error) { return m.String(), nil }

// nodeError reports a bad scalar the way yaml.v3 reports its own type
// errors, so the decoder carries on, collects it with the others, and the
// line reaches the Problem.
func nodeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, args...)}}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.DocumentNode:
		return "document"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return "scalar"
	}
	return "node"
}

// maxPathLen bounds a rendered sink path, like PATH_MAX on Linux. It also
// keeps a runaway template from eating memory at load.
const maxPathLen = 4096

var errPathTooLong = errors.New("renders to more than 4096 bytes")

// limitWriter fails once more than n bytes are written through it.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errPathTooLong
	}
	l.n -= len(p)
	return l.w.Write(p)
}
