package rotation

import (
	"slices"
	"strconv"
	"strings"

	"github.com/rotatord/rotatord/apiclient"
)

// Key names are chosen by anyone allowed to create API keys, and rotatord
// writes them into files, templates, logs and tables. The invariant kept
// here: a name that a consumer could read as anything but a name (a shell
// word break, a quote, a path separator, a control character) is never
// managed, whatever the policy matches.

// shown returns a key name fit for a log line or a terminal: as it is when
// rotatord may manage it, else quoted with every byte outside printable
// ASCII escaped (a name can carry ESC, CSI, bidi overrides and line
// separators, which log encoders pass through).
func shown(name string) string {
	if CheckName(name) == "" {
		return name
	}
	return strconv.QuoteToASCII(name)
}

// SkipReason is why a matching key name is not managed; a metric label.
type SkipReason string

// Skip reasons.
const (
	SkipUnsafeCharacters SkipReason = "unsafe_characters"
	SkipTooLong          SkipReason = "too_long"
)

// maxNameLen is the longest key name the API accepts.
const maxNameLen = 255

// CheckName returns "" when rotatord may manage a key of that name: ASCII
// letters and digits and the characters . _ - @ + = : only, 1 to 255 of
// them, not starting with - or ., without ".." and not ending with . (a
// file sink refuses a path with "..", and "{{.Name}}.json" makes one of a
// trailing dot). Never whitespace, quotes, $, backquote, ;, /, \ or control
// characters.
func CheckName(name string) SkipReason {
	if reason := checkChars(name); reason != "" {
		return reason
	}
	if uncleanPath(name) {
		// A file sink would refuse the rotation at every pass (an unclean
		// path): skip the name instead, as for the others.
		return SkipUnsafeCharacters
	}
	return ""
}

// checkChars is CheckName without uncleanPath.
func checkChars(name string) SkipReason {
	if name == "" {
		return SkipUnsafeCharacters
	}
	if len(name) > maxNameLen {
		return SkipTooLong
	}
	if c := name[0]; c == '-' || c == '.' {
		// A leading dash reads as an option to a consumer's command, a
		// leading dot as a hidden file.
		return SkipUnsafeCharacters
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '-' || c == '@' || c == '+' || c == '=' || c == ':':
		default:
			return SkipUnsafeCharacters
		}
	}
	return ""
}

// uncleanPath reports whether name holds ".." or ends with ".", which
// CheckName refuses for a file sink's sake only: such a name is safe to
// write anywhere else, and an earlier version managed it.
func uncleanPath(name string) bool {
	return strings.Contains(name, "..") || strings.HasSuffix(name, ".")
}

// finishesInFlight reports whether a name CheckName skips is handled all
// the same, as rotatord has unfinished work on it: a name only
// uncleanPath refuses, that an earlier version managed (with Vault or
// Kubernetes sinks, where it works), whose record has a rotation in
// flight or says a key listed (live) was deleted. Skipped, that work
// would never be done: a key a lost create made would live on in no sink,
// a create applied after its rollback would never be deleted again, and
// nobody would delete them. Handled, the rotation finishes or rolls back,
// the key is deleted again, and the name is skipped from then on.
func (e *Engine) finishesInFlight(p Policy, name string, live []apiclient.Key) bool {
	if !uncleanPath(name) || checkChars(name) != "" {
		return false
	}
	r, ok := e.store.Get(p.Name, name)
	return ok && (r.Rotation != nil || slices.ContainsFunc(live, func(k apiclient.Key) bool { return r.Deleted.Has(k.ID) }))
}
