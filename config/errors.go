package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a policy file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Path string // the field, e.g. policies[0].sinks[1].format; empty for a YAML error
	Msg  string
}

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
// line, when exactly one field starts there.
func yamlErrors(file string, err error, root *yaml.Node) *Errors {
	var errs Errors
	if te, ok := err.(*yaml.TypeError); ok {
		for _, m := range te.Errors {
			errs = append(errs, yamlProblem(file, m))
		}
	} else {
		errs = append(errs, yamlProblem(file, err.Error()))
	}
	if root != nil {
		for i := range errs {
			if errs[i].Line > 0 {
				errs[i].Path = pathAt(root, errs[i].Line)
			}
		}
	}
	return &errs
}

// pathAt returns the path of the only mapping key on line, or "" when there
// is none or more than one (a flow mapping). Aliases are not followed: an
// error inside an anchored node names the anchor's line, where the key is.
func pathAt(root *yaml.Node, line int) string {
	var found []string
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, at)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", at, i))
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
				}
				if k.Line <= line {
					walk(n.Content[i+1], p)
				}
			}
		}
	}
	walk(root, "")
	if len(found) != 1 {
		return ""
	}
	return found[0]
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
