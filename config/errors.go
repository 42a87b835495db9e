package config

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rotatord/rotatord/secret"
)

// Problem is one thing wrong with a policy file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Path string // the field, e.g. policies[0].sinks[1].format; empty for a YAML error
	Msg  string
	// Err is the error behind Msg when there is one (a file that cannot
	// be read), for errors.Is; it is not printed.
	Err error
}

// Unwrap returns the error behind the problem, if any.
func (p Problem) Unwrap() error { return p.Err }

// Error returns "file:line: path: msg", leaving out what is unknown.
func (p Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		if loc == "" {
			loc = "line " + strconv.Itoa(p.Line)
		} else {
			loc += ":" + strconv.Itoa(p.Line)
		}
	}
	parts := make([]string, 0, 3)
	for _, s := range []string{loc, p.Path, p.Msg} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// Errors lists every problem found in a policy file, in line order. Parse
// and Load return it as a *Errors.
type Errors []Problem

// Error returns one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(*e))
	for i, p := range *e {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As reach a single Problem.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(*e))
	for i, p := range *e {
		errs[i] = p
	}
	return errs
}

// yamlProblem turns a yaml.v3 message ("yaml: line 3: did not find
// expected key", or a TypeError entry "line 7: field x not found in type
// config.Config") into a Problem with the line split out.
func yamlProblem(file, msg string) Problem {
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, after
			}
		}
	}
	return Problem{File: file, Line: line, Msg: msg}
}

// yamlErrors converts an error from yaml.v3 into Errors. With the document
// tree at hand (root not nil), a problem gets the path of the field on its
// line, when exactly one field starts there, and yaml.v3's messages about
// Go types are said in the file's terms.
func yamlErrors(file string, err error, root *yaml.Node) *Errors {
	var errs Errors
	if te, ok := err.(*yaml.TypeError); ok {
		for _, m := range te.Errors {
			errs = append(errs, yamlProblem(file, m))
		}
	} else {
		errs = append(errs, taggedValueProblem(yamlProblem(file, err.Error()), root))
	}
	if root != nil {
		for i := range errs {
			if errs[i].Line > 0 {
				h := lineHint{value: quotedValue(errs[i].Msg)}
				if m := notFoundRE.FindStringSubmatch(errs[i].Msg); m != nil {
					h.key = m[1] // an unknown field names its key
				}
				if m := duplicateKeyRE.FindStringSubmatch(errs[i].Msg); m != nil {
					if k, err := strconv.Unquote(m[1]); err == nil {
						h.key = k // and so does a key written twice
					}
				}
				if m := cannotDecodRE.FindStringSubmatch(errs[i].Msg); m != nil {
					h.tag, h.goType = m[1], m[3] // a value of the wrong kind
				}
				errs[i].Path = pathAt(root, errs[i].Line, h)
			}
			name := ""
			if m := notFoundRE.FindStringSubmatch(errs[i].Msg); m != nil {
				name = m[1]
			}
			errs[i].Msg = fileLanguage(errs[i].Msg, root, errs[i].Path)
			if short := echo(name); short != name {
				// A secret pasted without its field name is decoded as
				// the name of a field: quoted as a value is.
				// Only the name itself: a name that begins a known
				// field's ("service_account_token_fil") would cut the
				// suggestion too ("service_account_token_fi…e").
				if p, ok := strings.CutSuffix(errs[i].Path, name); ok {
					errs[i].Path = p + short
				} else {
					errs[i].Path = strings.ReplaceAll(errs[i].Path, name, short)
				}
				if q := strconv.Quote(name); strings.Contains(errs[i].Msg, q) {
					errs[i].Msg = strings.ReplaceAll(errs[i].Msg, q, strconv.Quote(short))
				} else {
					errs[i].Msg = strings.ReplaceAll(errs[i].Msg, name, short)
				}
			}
		}
	}
	return &errs
}

// taggedValueProblem rewrites yaml.v3's message about a value whose
// explicit tag it cannot be read as ("cannot decode !!str `VALUE` as a
// !!int", from `api_secret: !!int VALUE`), which quotes the value whole
// and names no line: the value may be a secret, so it is cut as any value
// of the wrong kind, and the line is found in the document tree.
func taggedValueProblem(p Problem, root *yaml.Node) Problem {
	m := cannotTagRE.FindStringSubmatch(p.Msg)
	if m == nil {
		return p
	}
	p.Msg = fmt.Sprintf("cannot read %s as %s", strconv.Quote(echo(m[2])), m[3])
	if p.Line == 0 && root != nil {
		var walk func(n *yaml.Node) int
		walk = func(n *yaml.Node) int {
			if n.Kind == yaml.ScalarNode && n.Value == m[2] && n.ShortTag() == m[3] {
				return n.Line
			}
			for _, c := range n.Content {
				if l := walk(c); l > 0 {
					return l
				}
			}
			return 0
		}
		p.Line = walk(root)
	}
	return p
}

var (
	// yaml.v3's message about a value its explicit tag does not fit.
	cannotTagRE = regexp.MustCompile("^cannot decode (!!\\w+) `(?s:(.*))` as a (!!\\w+)$")
	// The messages of yaml.v3's decoder that name Go types.
	notFoundRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	// A key written twice in one mapping (withoutDuplicates).
	duplicateKeyRE = regexp.MustCompile(`^mapping key (".*") already defined at line \d+$`)
	alreadySetRE   = regexp.MustCompile(`^field (\S+) already set in type (\S+)$`)
	cannotDecodRE  = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
)

// maxEcho bounds how much of a value of the wrong type, or of the name of
// an unknown field, a message repeats: enough to find it, and for a 43
// character Exoscale secret pasted there, less than half of it (32 left
// 11 characters, 66 bits, unsaid).
const maxEcho = 24

// echo cuts s to maxEcho runes: a value pasted into the wrong place may be
// a secret, so a message repeats enough of it to find it, not all of it.
func echo[S ~string](s S) string {
	if r := []rune(string(s)); len(r) > maxEcho {
		return string(r[:maxEcho]) + "…"
	}
	return string(s)
}

// longWordRE matches what a secret pasted anywhere in the file would be
// in a message: a run of base64 characters longer than maxEcho.
var longWordRE = regexp.MustCompile(`[A-Za-z0-9_+=-]{` + strconv.Itoa(maxEcho+1) + `,}`)

// keptWordRE matches the long words a message may repeat whole: a role id
// (a UUID) and an Exoscale key, which are not secrets.
var keptWordRE = regexp.MustCompile(`^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|EXO[0-9a-f]{24})$`)

// cutLongWords cuts, in every problem's path and message, each long run of
// base64 characters that comes from the file (more than maxEcho of them
// are written in it) to maxEcho runes, as echo does: a secret pasted into
// any field, or written as a key or an alias, may reach a message by ways
// echo does not see (a parser's message about a duration, a URL, a glob,
// a schedule, a template; yaml.v3's about an alias or a key set twice),
// and a message goes to validate's output and to the log of a refused
// reload. File and line are left as they are, and so are words of the
// message's own (an environment variable's name, an absolute path) and
// names of words (secret.WordsName: a long policy, context or Secret
// name), which no generated secret is.
func cutLongWords[P ~[]Problem](ps P, data []byte) P {
	cut := func(s string) string {
		var b strings.Builder
		last := 0
		for _, m := range longWordRE.FindAllStringIndex(s, -1) {
			w := s[m[0]:m[1]]
			b.WriteString(s[last:m[0]])
			last = m[1]
			if keptWordRE.MatchString(w) || fieldNames[w] || secret.WordsName(w) || m[0] > 0 && s[m[0]-1] == '/' && !pathHides(s, m[0], m[1]) {
				// A part of a path is shown as ShownPath decides: a
				// directory's name whole, but a word after a '/' in a
				// duration, a schedule, a time zone, a namespace or a
				// label (1h/SECRET, Europe/SECRET) never went through
				// ShownPath, and is cut when ShownPath would hide it.
				b.WriteString(w)
				continue
			}
			b.WriteString(cutWord(w, data))
		}
		return b.String() + s[last:]
	}
	for i := range ps {
		ps[i].Path, ps[i].Msg = cut(ps[i].Path), cut(ps[i].Msg)
	}
	return ps
}

// pathHides reports whether ShownPath would hide part of the path-like
// token (up to a space, a quote, a ':' or a ',') of s that holds s[i:j].
func pathHides(s string, i, j int) bool {
	const stop = " \t\n\"'`:,()[]{}"
	start := strings.LastIndexAny(s[:i], stop) + 1
	end := len(s)
	if k := strings.IndexAny(s[j:], stop); k >= 0 {
		end = j + k
	}
	tok := s[start:end]
	if secret.ShownPath(tok) != tok {
		return true
	}
	// ShownPath sees a file name in a word followed by a character no
	// base64 has ("Europe/SECRET.x", "1h/SECRET;"), and shows it whole;
	// such a word is judged as the token up to its end.
	if j < len(s) && s[j] != '/' && !strings.ContainsRune(stop, rune(s[j])) {
		head := s[start:j]
		return secret.ShownPath(head) != head
	}
	return false
}

// cutWord is echo(w) when w comes from data, else w.
func cutWord(w string, data []byte) string {
	for i := 0; i+maxEcho < len(w); i++ {
		if bytes.Contains(data, []byte(w[i:i+maxEcho+1])) {
			return echo(w)
		}
	}
	return w
}

// fileLanguage rewrites a yaml.v3 message that speaks of Go types into the
// file's terms: field names as written in YAML, with the nearest known
// one suggested, and kinds of values (a mapping, a list, an integer)
// instead of Go types. Other messages are returned unchanged.
func fileLanguage(msg string, root *yaml.Node, at string) string {
	if m := notFoundRE.FindStringSubmatch(msg); m != nil {
		return unknownField(m[1], yamlFields(m[2]))
	}
	if m := alreadySetRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("field %q is set twice (once through a merge key <<)", m[1])
	}
	if m := cannotDecodRE.FindStringSubmatch(msg); m != nil {
		got := tagName(m[1])
		if m[2] != "" {
			// yaml.v3 shortens the value; the node has it whole.
			value := m[2]
			if n, _ := locate(root, at); at != "" && n != nil && n.Kind == yaml.ScalarNode {
				value = n.Value
			}
			got = strconv.Quote(echo(value))
		}
		return fmt.Sprintf("want %s, got %s", goTypeName(m[3]), got)
	}
	return msg
}

// unknownField says a field is unknown, suggesting the nearest known one,
// or else listing them all.
func unknownField(name string, known []string) string {
	if s := nearest(name, known); s != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", name, s)
	}
	if len(known) == 0 {
		return fmt.Sprintf("unknown field %q", name)
	}
	return fmt.Sprintf("unknown field %q (known here: %s)", name, strings.Join(known, ", "))
}

// configTypes maps the Go names yaml.v3 uses ("config.Policy") to the
// struct types of the policy file.
var configTypes = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || m[t.String()] != nil {
			return
		}
		m[t.String()] = t
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(Config{}))
	return m
}()

// fieldNames holds the YAML names of all the policy file's fields:
// cutLongWords keeps them whole (a problem's path, a suggestion), as they
// are no secret.
var fieldNames = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range configTypes {
		for _, name := range structFields(t) {
			m[name] = true
		}
	}
	return m
}()

// yamlFields returns the YAML names of the fields of a struct type given
// by its Go name, in struct order.
func yamlFields(goType string) []string {
	t := configTypes[goType]
	if t == nil {
		return nil
	}
	return structFields(t)
}

// structFields lists the YAML names of t's fields, those of an inlined
// struct included (an account's exoscale fields).
func structFields(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case name == "" && slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct:
			names = append(names, structFields(f.Type)...)
		case name != "":
			names = append(names, name)
		}
	}
	return names
}

// goTypeName says what kind of YAML value a Go type takes.
func goTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), configTypes[goType] != nil:
		return "a mapping"
	}
	switch goType {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	}
	return "a string" // string and the string types of this package
}

// tagName says what kind of value a YAML tag is.
func tagName(tag string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "a timestamp"
	case "!!binary":
		return "binary data"
	}
	return "a value tagged " + tag
}

// nearest returns the candidate closest to name, or "" when none is close
// enough to be a likely typo: within an edit distance of a third of the
// name's length (at least 1, at most 3; a swap of two neighbours counts
// one), ignoring case and treating - as _, or one being a prefix of the
// other.
func nearest(name string, candidates []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	n := norm(name)
	limit := min(max(len(n)/3, 1), 3)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		d := editDistance(n, norm(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return best
	}
	if len(n) >= 3 {
		for _, c := range candidates {
			if cn := norm(c); strings.HasPrefix(cn, n) || strings.HasPrefix(n, cn) {
				return c
			}
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours, each costing one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// quotedValue returns the first value a yaml.v3 or UnmarshalYAML message
// quotes (`abc` or "abc"), "" when none.
func quotedValue(msg string) string {
	for _, q := range []string{"`", `"`} {
		if i := strings.Index(msg, q); i >= 0 {
			if j := strings.Index(msg[i+1:], q); j >= 0 {
				return msg[i+1 : i+1+j]
			}
		}
	}
	return ""
}

// pathAt returns the path of the only mapping key (or scalar item of a
// block list) on line, or of the only scalar item of a flow list there
// whose value, kind and Go type are the message's (the item rather than
// its key: "policies: [1]" is policies[0]); on a line with several (a
// flow mapping), of the
// only one named key (an unknown field), else of the only one whose value
// is value; "" when that does not settle it. Aliases are not followed: an error inside an
// anchored node names the anchor's line, where the key is.
// lineHint is what a decoder message says of the field it is about.
type lineHint struct {
	value       string // the value, quoted in the message
	key         string // the field's name (an unknown field)
	tag, goType string // the YAML kind of the value and the Go type it did not fit
}

func pathAt(root *yaml.Node, line int, h lineHint) string {
	value, key := h.value, h.key
	var found, valued, keyed, typed, items, typedValued []string
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, at)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", at, i)
				if c.Kind == yaml.ScalarNode && c.Line == line && n.Style&yaml.FlowStyle == 0 {
					// An item of a block list on a line of its own
					// ("- just-a-string" where a mapping belongs).
					found = append(found, p)
				}
				if c.Kind == yaml.ScalarNode && c.Line == line && n.Style&yaml.FlowStyle != 0 &&
					value != "" && (c.Value == value || quotedAs(c.Value) == value) && (h.tag == "" || tagOf(c) == h.tag) &&
					(h.goType == "" || strings.TrimPrefix(goTypeAt(p), "*") == h.goType) {
					// An item of a flow list, maybe on its key's line
					// ("policies: [1]"): the item, not the key.
					items = append(items, p)
				}
				walk(c, p)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if at != "" {
					p = at + "." + k.Value
				}
				if k.Line == line {
					found = append(found, p)
					if key != "" && k.Value == key {
						keyed = append(keyed, p)
					}
					if v := n.Content[i+1]; h.tag != "" && tagOf(v) == h.tag && strings.TrimPrefix(goTypeAt(p), "*") == h.goType {
						typed = append(typed, p)
						if value != "" && v.Kind == yaml.ScalarNode && (v.Value == value || quotedAs(v.Value) == value) {
							typedValued = append(typedValued, p)
						}
					}
					if v := n.Content[i+1]; value != "" && v.Kind == yaml.ScalarNode && v.Value == value {
						valued = append(valued, p)
					}
				}
				if k.Line <= line {
					walk(n.Content[i+1], p)
				}
			}
		}
	}
	walk(root, "")
	if len(items) == 1 && (len(found) == 0 || len(found) == 1 && strings.HasPrefix(items[0], found[0]+"[") ||
		h.goType != "" && len(typedValued) == 0) {
		// The only item, or the only node of the line whose value, kind
		// and Go type are the message's: not a key of the same value
		// whose type has nothing to do with it.
		return items[0]
	}
	switch {
	case len(found) == 1:
		return found[0]
	case len(slices.Compact(keyed)) == 1:
		// One key, or one written twice in a flow mapping.
		return keyed[0]
	case len(typed) == 1:
		return typed[0]
	case len(valued) == 1:
		return valued[0]
	}
	return ""
}

// quotedAs is v as yaml.v3's messages about a value of the wrong kind
// quote it: cut to 7 bytes and "..." when longer than 10.
func quotedAs(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}

// tagOf is the short tag yaml.v3's messages give a node's value.
func tagOf(n *yaml.Node) string {
	switch n = deref(n); n.Kind {
	case yaml.MappingNode:
		return "!!map"
	case yaml.SequenceNode:
		return "!!seq"
	}
	return n.ShortTag()
}

// goTypeAt returns the Go type of the field a path names in Config
// ("[]config.Sink" for policies[0].sinks), "" when it names none.
func goTypeAt(p string) string {
	t := reflect.TypeOf(Config{})
	for _, st := range splitPath(p) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if st.index >= 0 {
			if t.Kind() != reflect.Slice {
				return ""
			}
			t = t.Elem()
			continue
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
		f, ok := yamlField(t, st.key)
		if !ok {
			return ""
		}
		t = f.Type
	}
	return t.String()
}

// yamlField finds the field of struct t named name in YAML, in an inlined
// struct too.
func yamlField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case !f.IsExported() || tag == "-":
		case tag == "" && slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct:
			if g, ok := yamlField(f.Type, name); ok {
				return g, true
			}
		case tag == name:
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// step is one element of a field path: a mapping key, or a sequence index
// when index >= 0.
type step struct {
	key   string
	index int
}

// splitPath splits "policies[0].sinks[1].format" into its steps.
func splitPath(p string) []step {
	var steps []step
	for _, part := range strings.Split(p, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			steps = append(steps, step{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			n, err := strconv.Atoi(num)
			if err != nil {
				break
			}
			steps = append(steps, step{index: n})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return steps
}

// locate walks the document along a field path. It returns the node the
// path names (nil when the path goes further than the document) and the
// line of the deepest part of the path that exists: a missing field is
// reported on the line of the mapping that lacks it. Line is 0 when not even
// the first step exists.
func locate(root *yaml.Node, p string) (node *yaml.Node, line int) {
	n := root
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, 0
		}
		n = n.Content[0]
	}
	for _, st := range splitPath(p) {
		n = deref(n)
		if n == nil {
			return nil, line
		}
		if st.index < 0 {
			k, v := mappingValue(n, st.key)
			if v == nil {
				return nil, line
			}
			line, n = k.Line, v
			continue
		}
		if n.Kind != yaml.SequenceNode || st.index >= len(n.Content) {
			return nil, line
		}
		n = n.Content[st.index]
		line = n.Line
	}
	return deref(n), line
}

// deref follows aliases (bounded: yaml.v3 rejects alias cycles, but a
// hand-built tree might not).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// mappingValue returns the key and value nodes for key in mapping n. It does
// not look into merge keys (<<), which only costs a line number.
func mappingValue(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}
