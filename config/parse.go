package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Parse parses, applies defaults to and validates a policy file. filename
// only labels problems; relative paths resolve against baseDir (the working
// directory when baseDir is empty). Any problem with the file comes back as
// a *Errors listing all of them: those of the decoding (unknown fields,
// wrong types) and those of the validation together. It checks nothing on
// this host (see Validate).
func Parse(data []byte, filename, baseDir string) (*Config, error) {
	cfg, errs, _, err := check(data, filename, baseDir, false, os.Getenv)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, &errs
	}
	return cfg, nil
}

// check parses and validates a policy file, and with host also checks what
// depends on this machine. It returns the config (nil when there are
// errors), the errors and the warnings, in line order; err is set only when
// baseDir cannot be made absolute.
func check(data []byte, filename, baseDir string, host bool, getenv func(string) string) (*Config, Errors, []Problem, error) {
	cfg, errs, warns, err := checkFile(data, filename, baseDir, host, getenv)
	if len(errs) == 0 && len(warns) == 0 {
		return cfg, errs, warns, err
	}
	from := fileWords(data)
	return cfg, cutLongWords(errs, from), cutLongWords(warns, from), err
}

// fileWords is data followed by every value, key, anchor and alias of
// its first document as they read decoded: a secret written with escapes,
// or in a double-quoted string broken by an escaped line break, reaches a
// message whole though no maxEcho+1 of its characters are in a row in
// the file.
func fileWords(data []byte) []byte {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return data
	}
	from := bytes.Clone(data)
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		words := []string{n.Value, n.Anchor, n.Tag}
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!binary" {
			// yaml.v3 decodes a !!binary value into a string field.
			if b, err := base64.StdEncoding.DecodeString(n.Value); err == nil {
				words = append(words, string(b))
			}
		}
		for _, w := range words {
			if len(w) > maxEcho {
				from = append(append(from, '\n'), w...)
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	return from
}

// checkFile is check without the cut of long words.
func checkFile(data []byte, filename, baseDir string, host bool, getenv func(string) string) (*Config, Errors, []Problem, error) {
	base, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config directory: %w", err)
	}
	// YAML ends a line in LF, CR LF or a lone CR, and reads each as LF
	// (in block scalars too): so does everything below, which finds lines
	// by their LFs. yaml.v3 itself parses a file of lone CRs otherwise.
	data = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
	root, errs := document(data, filename)
	if errs != nil {
		return nil, *errs, nil, nil
	}
	// yaml.v3 decodes a !!binary value from base64 into a string field:
	// the policy file's secret so tagged where it stands would reach a
	// message decoded, as bytes quoted (no run of base64 characters to
	// cut), which encode back to it. No field of the file is binary: such
	// a value is refused before anything is decoded.
	if bin := binaryValues(root); len(bin) > 0 {
		for i := range bin {
			bin[i].File, bin[i].Msg = filename, "a value tagged !!binary: every field of a policy file is text (write it without the tag)"
		}
		return nil, bin, nil, nil
	}
	// yaml.v3 does not decode a mapping that holds a key twice, and the
	// mappings and lists around it then decode out of step: the rest of
	// the file is checked without the later occurrences.
	dups, data, root := withoutDuplicates(data, filename, root)
	cfg, decodeErrs, undecoded, aborted := decode(data, filename, root)
	// Validation carries on over what decoded: a field that did not keeps
	// its default, so what is wrong elsewhere is reported in the same run.
	v := validator{file: filename, root: root, base: base, host: host, getenv: getenv}
	v.config(cfg)
	// An item the decoder dropped is in the lists as a zero value, so
	// that the others keep their index: what is said of it is not.
	v.errs = slices.DeleteFunc(v.errs, func(p Problem) bool { return under(p.Path, undecoded) })
	v.warns = slices.DeleteFunc(v.warns, func(p Problem) bool { return under(p.Path, undecoded) })
	var all, decoded Errors
	if decodeErrs != nil {
		decoded = *decodeErrs
	}
	decoded = append(decoded, dups...)
	all = append(all, decoded...)
	for _, p := range v.errs {
		if !aborted && !followsFrom(p, decoded) {
			all = append(all, p)
		}
	}
	if aborted {
		v.warns = nil
	}
	sortProblems(all)
	sortProblems(v.warns)
	if len(all) > 0 {
		return nil, all, v.warns, nil
	}
	return cfg, nil, v.warns, nil
}

// withoutDuplicates finds the keys a mapping of root holds twice (or
// more) and returns them as problems, with data and root rewritten
// without each later occurrence: its text blanked (every byte but the
// line breaks made a space), so that every line keeps its number. When
// the later occurrences cannot go (one defines an anchor used further
// on), the earlier ones go instead. When neither can be done (blanking
// that breaks the document) it returns no problems and data and root
// unchanged, and the decoder reports the duplicates itself.
func withoutDuplicates(data []byte, file string, root *yaml.Node) (Errors, []byte, *yaml.Node) {
	// The nodes in document order, to find where an entry's text ends.
	var order []*yaml.Node
	index := map[*yaml.Node]int{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		index[n] = len(order)
		order = append(order, n)
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	// last returns the index of the last node of n's subtree.
	var last func(n *yaml.Node) int
	last = func(n *yaml.Node) int {
		if len(n.Content) == 0 {
			return index[n]
		}
		return last(n.Content[len(n.Content)-1])
	}
	lines := lineStarts(data)
	// offset returns the byte offset of a node's line and column (yaml.v3
	// counts columns in characters, and a BOM is not one), -1 when out of
	// the file.
	offset := func(line, column int) int {
		if line < 1 || line > len(lines) || column < 1 {
			return -1
		}
		at := lines[line-1]
		if line == 1 && bytes.HasPrefix(data, []byte("\ufeff")) {
			at += len("\ufeff")
		}
		for c := 1; c < column; c++ {
			if at >= len(data) || data[at] == '\n' || data[at] == '\r' {
				return -1
			}
			_, n := utf8.DecodeRune(data[at:])
			at += n
		}
		return at
	}
	// span returns the bytes of the entry whose key is m.Content[j]: in a
	// block mapping, its lines up to the next node's; in a flow mapping,
	// up to the next key of m. ok is false when that cannot be told.
	span := func(m *yaml.Node, j int) (from, to int, ok bool) {
		k := m.Content[j]
		if m.Style&yaml.FlowStyle != 0 {
			if j+2 >= len(m.Content) {
				return 0, 0, false // the last entry: where it ends is not known
			}
			next := m.Content[j+2]
			from, to = offset(k.Line, k.Column), offset(next.Line, next.Column)
			return from, to, from >= 0 && to > from
		}
		if k.Line < 1 || k.Line > len(lines) {
			return 0, 0, false
		}
		from, to = lines[k.Line-1], len(data)
		if next := last(m.Content[j+1]) + 1; next < len(order) {
			l := order[next].Line
			if l <= k.Line || l > len(lines) {
				return 0, 0, false
			}
			to = lines[l-1]
		}
		return from, to, true
	}
	var msgs []string
	var later, earlier [][2]int // the entries to blank, either way
	laterOK, earlierOK := true, true
	for _, m := range order {
		if m.Kind != yaml.MappingNode {
			continue
		}
		type key struct {
			kind  yaml.Kind
			value string
		}
		first := map[key]int{}
		prev := map[key]int{} // the occurrence before the last one seen
		for j := 0; j+1 < len(m.Content); j += 2 {
			kj := m.Content[j]
			id := key{kj.Kind, kj.Value}
			i, seen := first[id]
			if !seen {
				first[id], prev[id] = j, j
				continue
			}
			msgs = append(msgs, fmt.Sprintf("line %d: mapping key %#v already defined at line %d", kj.Line, kj.Value, m.Content[i].Line))
			if from, to, ok := span(m, j); ok {
				later = append(later, [2]int{from, to})
			} else {
				laterOK = false
			}
			if from, to, ok := span(m, prev[id]); ok {
				earlier = append(earlier, [2]int{from, to})
			} else {
				earlierOK = false
			}
			prev[id] = j
		}
	}
	if len(msgs) == 0 {
		return nil, data, root
	}
	for _, try := range []struct {
		ok     bool
		blanks [][2]int
	}{{laterOK, later}, {earlierOK, earlier}} {
		if !try.ok {
			continue
		}
		without := bytes.Clone(data)
		for _, b := range try.blanks {
			for i := b[0]; i < b[1]; i++ {
				if without[i] != '\n' && without[i] != '\r' {
					without[i] = ' '
				}
			}
		}
		newRoot, errs := document(without, file)
		if errs != nil {
			continue
		}
		if again, _, _ := withoutDuplicates(without, file, newRoot); again != nil {
			continue
		}
		return *yamlErrors(file, &yaml.TypeError{Errors: msgs}, root), without, newRoot
	}
	return nil, data, root
}

// lineStarts returns the offset at which each line of data starts, lines
// ending as YAML ends them: in LF, CR LF or a lone CR.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			i++
			starts = append(starts, i+1)
		case data[i] == '\n' || data[i] == '\r':
			starts = append(starts, i+1)
		}
	}
	return starts
}

// under reports whether path is one of paths or a field or item of one.
func under(path string, paths []string) bool {
	for _, p := range paths {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// followsFrom reports whether a validation problem may be a consequence of
// a decoding problem: a field that did not decode fails validation as its
// default or zero value, on the same line; a mapping or list that did not
// decode leaves its parents without it; a check that reads a sibling that
// did not decode fails on the sibling's default (readsSibling). One
// problem is enough. The line alone decides only when a path is missing:
// a line in flow style ({max_age: -1h, grace_period: 1x, ...}) holds
// fields that have nothing to do with each other, each reported as in
// block style.
func followsFrom(p Problem, decoded []Problem) bool {
	for _, d := range decoded {
		if p.Line > 0 && p.Line == d.Line && (p.Path == "" || d.Path == "" || within(p.Path, d.Path)) {
			return true
		}
		if p.Path != "" && (d.Path == p.Path || strings.HasPrefix(d.Path, p.Path+".") || strings.HasPrefix(d.Path, p.Path+"[")) {
			return true
		}
		if readsSibling(p, d.Path) {
			return true
		}
	}
	return false
}

// within reports whether path is at or under the field at.
func within(path, at string) bool {
	return path == at || strings.HasPrefix(path, at+".") || strings.HasPrefix(path, at+"[")
}

// siblingsRead names, for a field whose check reads other fields of its
// mapping, those fields: one of them that did not decode keeps its
// default, and the check then fails on that default (format: [template]
// leaves format json, and template is "only for format template, but
// format is json"). parentRead does so for every field of a mapping:
// each auth field is judged by its method, each state field by the
// backend.
var (
	siblingsRead = map[string][]string{
		"template":         {"format"},
		"mode":             {"allow_world_readable"},
		"jitter":           {"max_age"},
		"key":              {"format", "keys"},
		"keys":             {"format", "key"},
		"format":           {"key", "keys"},
		"context":          {"kubeconfig"},
		"path":             {"address", "mount", "namespace"},
		"credential_file":  {"credential_from"},
		"credential_vault": {"credential_from"},
		"renew_deadline":   {"retry_period"},
		"lease_duration":   {"renew_deadline", "retry_period"},
	}
	parentRead = map[string]string{"auth": "method", "state": "backend"}
)

// readsSibling reports whether p may be a consequence of the sibling
// field at decoded (in the same mapping) keeping its default: p's check
// reads that field (siblingsRead, parentRead) and p's message names it.
// A problem of p's own value ("must not be negative") names no sibling
// and is still reported.
func readsSibling(p Problem, decoded string) bool {
	pi, di := strings.LastIndexByte(p.Path, '.'), strings.LastIndexByte(decoded, '.')
	if pi < 0 || di < 0 || p.Path[:pi] != decoded[:di] {
		return false
	}
	parent, field, other := p.Path[:pi], p.Path[pi+1:], decoded[di+1:]
	if k := strings.LastIndexAny(parent, ".]"); k >= 0 {
		parent = parent[k+1:]
	}
	if !slices.Contains(siblingsRead[field], other) && parentRead[parent] != other {
		return false
	}
	return slices.Contains(strings.FieldsFunc(p.Msg, func(r rune) bool {
		return !(r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}), other)
}

// sortProblems orders problems by line, keeping the order of those on one
// line.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}

// document parses data as exactly one YAML document whose top level is a
// mapping, and returns its node tree for line lookups.
func document(data []byte, file string) (*yaml.Node, *Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Errors{{File: file, Msg: "empty file: want a mapping with at least policies"}}
		}
		return nil, syntaxErrors(data, file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		// A second document would be silently ignored by a plain decode;
		// it is more likely a mistake (two files concatenated) than intent.
		return nil, &Errors{{File: file, Line: extra.Line, Msg: "a second YAML document starts here: a policy file holds exactly one"}}
	case !errors.Is(err, io.EOF):
		return nil, syntaxErrors(data, file, err)
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, &Errors{{File: file, Line: top.Line, Msg: fmt.Sprintf("top level is a %s: want a mapping with at least policies", kindName(top))}}
	}
	return &root, nil
}

// syntaxErrors is yamlErrors for an error parsing data, with the line of
// the error found again: yaml.v3 gives, for most parser errors, the line
// before the construct the error is in (an indentation mistake on line 4
// is "line 2"), and no line for an error on line 1 or an unknown alias.
// The line is found by parsing the file's first lines, one more at a time
// from the line yaml.v3 gave (never past the error), until they fail with
// the same message: the line the parser stopped at.
func syntaxErrors(data []byte, file string, err error) *Errors {
	errs := yamlErrors(file, err, nil)
	if len(*errs) != 1 {
		return errs
	}
	p := &(*errs)[0]
	if n := aliasLine(data, p.Msg); n > 0 {
		p.Line = n
	} else if n := syntaxLine(data, p.Msg, p.Line); n > 0 {
		p.Line = n
	}
	var line []byte
	if lines := bytes.Split(data, []byte("\n")); p.Line > 0 && p.Line <= len(lines) {
		line = lines[p.Line-1]
	}
	switch {
	case p.Msg == "did not find expected alphabetic or numeric character" && startsValueRE("*&").Match(line):
		// The scanner read an alias (*) or an anchor (&) with no name:
		// most often a cron spec or a days list written without quotes.
		p.Msg += ` (a value that starts with * or & is YAML syntax: quote it, as in schedule: "*/5 * * * *" or days: ["*"])`
	case tabMsgs[p.Msg] && tabIndented(data, p.Line):
		// An editor that does not expand tabs: the parser names no tab.
		p.Msg += " (a tab in the indentation: YAML indents with spaces only)"
	case p.Msg == "found character that cannot start any token" && startsValueRE("@`").Match(line):
		// @ and ` are reserved: "@hourly" and "@every 1h" need quotes.
		p.Msg += ` (a value that starts with @ or ` + "`" + ` is reserved in YAML: quote it, as in schedule: "@every 1h")`
	}
	return errs
}

// tabMsgs are the parser's messages about a character it stopped at that
// may be a tab in the indentation.
var tabMsgs = map[string]bool{
	"found character that cannot start any token":     true,
	"found a tab character that violates indentation": true,
}

// tabIndented reports whether line n (from 1) of data starts with blanks
// (and the dashes of list items, "-\tname: ci") holding a tab that the
// parser stops at: the lines before it, then its leading blanks and a
// plain word, fail with a message on a tab. A line
// inside a flow list or mapping may start with a tab (YAML allows it
// there), and an error on it is then another character's (an @ that
// starts a value).
func tabIndented(data []byte, n int) bool {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return false
	}
	lead := leadRE.Find(lines[n-1])
	if !bytes.ContainsRune(lead, '\t') {
		return false
	}
	prefix := append(bytes.Join(lines[:n-1], nil), lead...)
	err := parseDocuments(append(prefix, 'x'))
	return err != nil && tabMsgs[yamlProblem("", err.Error()).Msg]
}

// leadRE matches the indentation of a line: blanks, and the dash (or ?
// or :) and blank that begin an item of a block collection.
var leadRE = regexp.MustCompile(`^(?:[ \t]|[-?:][ \t])*`)

// startsValueRE matches a line where one of chars starts a value: at
// the line's start or after ':', '-', '[', '{' or ',' and blanks.
func startsValueRE(chars string) *regexp.Regexp {
	return regexp.MustCompile(`(?:^|[:\-\[{,])\s*[` + regexp.QuoteMeta(chars) + `]`)
}

var unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// aliasLine returns the line of the alias an "unknown anchor" error is
// about (yaml.v3 gives none), 0 for another message or when it is not
// found: the first line where *name is written and the file's lines up
// to it fail with msg. Searching from the top, one line more at a time,
// would parse the file's first half over and over.
func aliasLine(data []byte, msg string) int {
	m := unknownAnchorRE.FindStringSubmatch(msg)
	if m == nil || m[1] == "" {
		return 0
	}
	// An alias starts a line or follows a blank or [ { ,; after a # on
	// its line, it is most likely in a comment.
	re := regexp.MustCompile(`(?m)^[^#\n\r]*?(?:^|[\s\[{,])\*` + regexp.QuoteMeta(m[1]) + `(?:$|[\s,\[\]{}])`)
	lines := lineStarts(data)
	budget := syntaxBudget
	for _, loc := range re.FindAllIndex(data, -1) {
		n := sort.Search(len(lines), func(i int) bool { return lines[i] > loc[1]-1 }) // its line
		end := len(data)
		if n < len(lines) {
			end = lines[n]
		}
		if budget -= end; budget < 0 {
			return 0
		}
		if err := parseDocuments(data[:end]); err != nil && yamlProblem("", err.Error()).Msg == msg {
			return n
		}
	}
	return 0
}

// syntaxBudget bounds the bytes syntaxLine parses, all tries together: a
// policy file of a few hundred lines takes a few milliseconds, and a huge
// one keeps the line yaml.v3 gave.
const syntaxBudget = 16 << 20

// syntaxLine returns the first line n, from line from on, at which data's
// first n lines fail to parse with msg; 0 when none does within
// syntaxBudget.
func syntaxLine(data []byte, msg string, from int) int {
	var ends []int // ends[i]: the offset just after line i+1
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	from = max(from, 1)
	budget := syntaxBudget
	for n := from; n <= len(ends) && budget >= ends[n-1]; n++ {
		budget -= ends[n-1]
		if err := parseDocuments(data[:ends[n-1]]); err != nil && yamlProblem("", err.Error()).Msg == msg {
			return n
		}
	}
	return 0
}

// parseDocuments parses every YAML document in data.
func parseDocuments(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// decode decodes data strictly into a Config that starts from the
// defaults. It returns the Config even when some fields did not decode:
// those keep their defaults. An item of a list the decoder dropped (a
// string where a mapping belongs) is a zero value in its place, so that
// the others keep their index; undecoded lists their paths.
// aborted is set when the decoder stopped where it met a problem (a
// merge key of a string): what comes after it did not decode, and is not
// to be judged.
func decode(data []byte, file string, root *yaml.Node) (cfgOut *Config, errsOut *Errors, undecoded []string, aborted bool) {
	cfg := DefaultConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs *Errors
	if err := dec.Decode(&cfg); err != nil {
		errs = yamlErrors(file, err, root)
		var te *yaml.TypeError
		if aborted = !errors.As(err, &te); aborted {
			if at, line := badMerge(root, ""); line > 0 && len(*errs) == 1 && (*errs)[0].Line == 0 {
				(*errs)[0].Line, (*errs)[0].Path = line, at
			}
		}
	}
	if err := applyListDefaults(&cfg, root.Content[0], &undecoded); err != nil && errs == nil {
		errs = yamlErrors(file, err, root)
	}
	// yaml.v3 decodes 2.5 into an int as 2: a count must be written whole.
	for _, field := range []string{"exoscale.concurrency", "exoscale.max_retries"} {
		if n, _ := locate(root, field); n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" {
			if errs == nil {
				errs = &Errors{}
			}
			if slices.ContainsFunc(*errs, func(p Problem) bool { return p.Path == field }) {
				continue // too large an integer: the decoder said so
			}
			*errs = append(*errs, Problem{File: file, Line: n.Line, Path: field, Msg: fmt.Sprintf("want an integer, got %s", n.Value)})
		}
	}
	// The decoder drops a null item without a word: say it. Its error
	// for another item (a flow list) names no field: name the item.
	onLine := map[int]int{}
	for _, at := range undecoded {
		_, line := locate(root, at)
		onLine[line]++
	}
	for _, at := range undecoded {
		n, line := locate(root, at)
		if errs != nil && line > 0 && onLine[line] == 1 {
			for i := range *errs {
				if p := &(*errs)[i]; p.Path == "" && p.Line == line && strings.HasPrefix(p.Msg, "want a mapping, got") {
					p.Path = at
				}
			}
		}
		if deref(n) != nil && deref(n).ShortTag() == "!!null" {
			if errs == nil {
				errs = &Errors{}
			}
			*errs = append(*errs, Problem{File: file, Line: line, Path: at, Msg: "empty: want a mapping"})
		}
	}
	return &cfg, errs, undecoded, aborted
}

// badMerge returns the path and line of the first merge key (<<) under n
// whose value is neither a mapping nor a list of mappings; line 0 when
// there is none. Aliases are not followed: an anchored node is searched
// where it is written.
func badMerge(n *yaml.Node, at string) (string, int) {
	if n == nil {
		return "", 0
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p, l := badMerge(c, at); l > 0 {
				return p, l
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p, l := badMerge(c, fmt.Sprintf("%s[%d]", at, i)); l > 0 {
				return p, l
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if at != "" {
				p = at + "." + k.Value
			}
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				ok := deref(v) != nil && deref(v).Kind == yaml.MappingNode
				if d := deref(v); d != nil && d.Kind == yaml.SequenceNode {
					ok = true
					for _, item := range d.Content {
						ok = ok && deref(item) != nil && deref(item).Kind == yaml.MappingNode
					}
				}
				if !ok {
					return p, k.Line
				}
			}
			if q, l := badMerge(v, p); l > 0 {
				return q, l
			}
		}
	}
	return "", 0
}

// applyListDefaults decodes each policy and sink again, this time into a
// copy of its defaults. The strict decode above cannot do that because
// yaml.v3 builds list elements from zero values, and telling "absent" from
// zero afterwards would be wrong for grace_period, where 0 is valid. This
// second decode goes through Node.Decode, which is not strict; its errors
// are those of the strict decode again, so they matter only when that one
// had none. A policy or sink that decodes differently the second time is
// left as the strict decode made it.
func applyListDefaults(cfg *Config, top *yaml.Node, undecoded *[]string) error {
	var raw struct {
		Policies []yaml.Node `yaml:"policies"`
	}
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	if err := top.Decode(&raw); err != nil {
		keep(err)
	}
	if n, _ := locate(top, "exoscale"); deref(n) != nil {
		pointerDefaults(deref(n), &cfg.Exoscale, keep)
	}
	var rawAccounts struct {
		Accounts []yaml.Node `yaml:"accounts"`
	}
	if err := top.Decode(&rawAccounts); err != nil {
		keep(err)
	}
	if accounts, ok := inPlace(rawAccounts.Accounts, cfg.Accounts, "accounts", undecoded); ok {
		cfg.Accounts = accounts
		for i := range rawAccounts.Accounts {
			if !decodable(&rawAccounts.Accounts[i]) {
				continue
			}
			a := Account{Exoscale: DefaultExoscale}
			if err := rawAccounts.Accounts[i].Decode(&a); err != nil {
				keep(err)
				continue
			}
			pointerDefaults(&rawAccounts.Accounts[i], &a.Exoscale, keep)
			cfg.Accounts[i] = a
		}
	} else {
		keep(fmt.Errorf("yaml: accounts decoded twice to different lengths (%d, %d)", len(rawAccounts.Accounts), len(cfg.Accounts)))
	}
	policies, ok := inPlace(raw.Policies, cfg.Policies, "policies", undecoded)
	if !ok {
		keep(fmt.Errorf("yaml: policies decoded twice to different lengths (%d, %d)", len(raw.Policies), len(cfg.Policies)))
		return first
	}
	cfg.Policies = policies
	for i := range raw.Policies {
		if !decodable(&raw.Policies[i]) {
			continue
		}
		p := DefaultPolicy
		if err := raw.Policies[i].Decode(&p); err != nil {
			keep(err)
		}
		var rawSinks struct {
			Sinks []yaml.Node `yaml:"sinks"`
		}
		if err := raw.Policies[i].Decode(&rawSinks); err != nil {
			keep(err)
		}
		// Both decodes dropped the sinks that are no mapping.
		var dropped []string
		at := fmt.Sprintf("policies[%d].sinks", i)
		sinks, ok := inPlace(rawSinks.Sinks, cfg.Policies[i].Sinks, at, &dropped)
		if ok {
			p.Sinks, ok = inPlace(rawSinks.Sinks, p.Sinks, at, new([]string))
		}
		if ok {
			cfg.Policies[i].Sinks = sinks
			*undecoded = append(*undecoded, dropped...)
		}
		if !ok || len(p.Sinks) != len(rawSinks.Sinks) {
			// A sink that did not decode: keep the others as they are.
			keep(fmt.Errorf("yaml: policies[%d].sinks decoded twice to different lengths", i))
			p.Sinks = cfg.Policies[i].Sinks
			cfg.Policies[i] = p
			continue
		}
		for j := range rawSinks.Sinks {
			if !decodable(&rawSinks.Sinks[j]) {
				p.Sinks[j] = Sink{}
				continue
			}
			var s Sink
			switch cfg.Policies[i].Sinks[j].Type {
			case SinkFile:
				s = DefaultFileSink
			case SinkVault:
				s = DefaultVaultSink
			case SinkKubernetes:
				s = DefaultKubernetesSink
			}
			if err := rawSinks.Sinks[j].Decode(&s); err != nil {
				keep(err)
			}
			p.Sinks[j] = s
		}
		cfg.Policies[i] = p
	}
	return first
}

// decodable reports whether yaml.v3 decodes a list item into a struct: a
// mapping. It drops the others from the list: a string or a list after
// its error, null silently.
func decodable(n *yaml.Node) bool {
	d := deref(n)
	return d != nil && d.Kind == yaml.MappingNode
}

// inPlace returns what the decoder made of the list items (without those
// it dropped) with a zero value in the place of each dropped one, whose
// path (at[i]) it adds to undecoded. ok is false when they do not line
// up.
func inPlace[T any](items []yaml.Node, decoded []T, at string, undecoded *[]string) (list []T, ok bool) {
	if items == nil && len(decoded) == 0 {
		return decoded, true
	}
	var paths []string
	next := 0 // the next of decoded
	for i := range items {
		if decodable(&items[i]) {
			if next == len(decoded) {
				return nil, false
			}
			list = append(list, decoded[next])
			next++
			continue
		}
		list = append(list, *new(T))
		paths = append(paths, fmt.Sprintf("%s[%d]", at, i))
	}
	if next != len(decoded) {
		return nil, false
	}
	*undecoded = append(*undecoded, paths...)
	return list, true
}

// pointerDefaults gives the blocks of an account that are pointers
// (own_key, credential_vault) their defaults: yaml.v3 allocates them zero.
func pointerDefaults(n *yaml.Node, e *Exoscale, keep func(error)) {
	if m, _ := locate(n, "own_key"); deref(m) != nil && e.OwnKey != nil && deref(m).Kind == yaml.MappingNode {
		o := DefaultOwnKey
		if err := m.Decode(&o); err != nil {
			keep(err)
		}
		e.OwnKey = &o
	}
	if m, _ := locate(n, "credential_vault"); deref(m) != nil && e.CredentialVault != nil && deref(m).Kind == yaml.MappingNode {
		sk := DefaultVaultSink
		if err := m.Decode(&sk); err != nil {
			keep(err)
		}
		e.CredentialVault = &sk
	}
}

// binaryValues are the values tagged !!binary under n, each with its
// line and field.
func binaryValues(n *yaml.Node) []Problem {
	var out []Problem
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch {
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!binary":
			out = append(out, Problem{Line: n.Line, Path: at})
		case n.Kind == yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", at, i))
			}
		case n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, sub := n.Content[i], at
				walk(k, at)
				if k.Kind == yaml.ScalarNode && k.ShortTag() != "!!binary" && k.ShortTag() != "!!merge" {
					if sub != "" {
						sub += "."
					}
					sub += k.Value
				}
				walk(n.Content[i+1], sub)
			}
		default:
			for _, c := range n.Content {
				walk(c, at)
			}
		}
	}
	walk(n, "")
	return out
}
