package config

import (
	"path"
	"testing"
)

// TestMatchGlobSpansSlash: match.name is a glob over key names, which are
// not paths, but "ci-*" did not match "ci-<script>x</script>" (path.Match's
// "*" stops at "/"). Such a name escaped the unsafe-name skip: no warning,
// no rotatord_names_skipped_total, not on the landing page, though #11
// wants every matching name outside the safe set skipped and counted, and
// #12 wants a name carrying script shown as text.
func TestMatchGlobSpansSlash(t *testing.T) {
	p := Policy{Match: Match{Name: "ci-*", Exclude: []string{"ci-tmp*"}}}
	for name, want := range map[string]bool{
		"ci-runner":                    true,
		"ci-<script>alert(1)</script>": true,
		"ci-a/b/c":                     true,
		"ci-tmp/x":                     false, // excluded
		"web-a/ci-b":                   false,
		"ci-\ue000/":                   true,
	} {
		if got := p.Matches(name, ""); got != want {
			t.Errorf("ci-* (excluding ci-tmp*) matches %q: %v, want %v", name, got, want)
		}
	}
	q := Policy{Match: Match{Name: "ci-?/[a-c]"}}
	for name, want := range map[string]bool{"ci-x/b": true, "ci-//b": true, "ci-x/d": false, "ci-xb": false} {
		if got := q.Matches(name, ""); got != want {
			t.Errorf("ci-?/[a-c] matches %q: %v, want %v", name, got, want)
		}
	}
}

// TestGlobMatchAgreesWithPathMatchWithoutSlash: on names without "/",
// globMatch is path.Match, for every pattern made of a few pieces.
func TestGlobMatchAgreesWithPathMatchWithoutSlash(t *testing.T) {
	pieces := []string{"a", "b", "*", "?", "[a-c]", "[^b]", `\*`, "-", "é", "[é]"}
	names := []string{"", "a", "b", "ab", "ba", "aab", "abc", "*", "a-b", "é", "aé", "c*b", "bbb", "a*"}
	var patterns []string
	var grow func(p string, n int)
	grow = func(p string, n int) {
		patterns = append(patterns, p)
		if n == 0 {
			return
		}
		for _, q := range pieces {
			grow(p+q, n-1)
		}
	}
	grow("", 3)
	for _, p := range patterns {
		for _, n := range names {
			want, err := path.Match(p, n)
			if err != nil {
				want = false
			}
			if got := globMatch(p, n); got != want {
				t.Errorf("globMatch(%q, %q) = %v, path.Match says %v", p, n, got, want)
			}
		}
	}
}
