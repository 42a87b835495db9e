// Package nametmpl renders the path templates of sinks, which see one
// field, .Name. The common ones put .Name between literal text
// ("/run/creds/{{.Name}}.json"): those are rendered by concatenation, the
// same text text/template writes for them, at a quarter of its cost (its
// reflection was a fifth of a no-op pass's CPU: a pass asks every sink's
// target of every name, to see which deliveries a record holds). Any
// other template is executed by text/template.
package nametmpl

import (
	"bytes"
	"strings"
	"text/template"
	"text/template/parse"
)

// Renderer renders one template for a name.
type Renderer struct {
	t     *template.Template
	parts []part // nil: execute t
}

// part is literal text, or the name when isName.
type part struct {
	text   string
	isName bool
}

// New returns a Renderer of t, which is executed with a struct whose Name
// field is the name.
func New(t *template.Template) *Renderer {
	return &Renderer{t: t, parts: compile(t)}
}

// compile returns the parts of a template made only of text and {{.Name}}
// actions, or nil.
func compile(t *template.Template) []part {
	if t == nil || t.Tree == nil || t.Tree.Root == nil {
		return nil
	}
	parts := []part{}
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			parts = append(parts, part{text: string(n.Text)})
		case *parse.ActionNode:
			if !isName(n.Pipe) {
				return nil
			}
			parts = append(parts, part{isName: true})
		default:
			return nil
		}
	}
	return parts
}

// isName reports whether a pipeline is exactly .Name: one command, one
// field, no variables.
func isName(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) != 0 || p.IsAssign || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	return ok && len(f.Ident) == 1 && f.Ident[0] == "Name"
}

// Render returns the template's text for name.
func (r *Renderer) Render(name string) (string, error) {
	if r.parts != nil {
		var b strings.Builder
		for _, p := range r.parts {
			if p.isName {
				b.WriteString(name)
			} else {
				b.WriteString(p.text)
			}
		}
		return b.String(), nil
	}
	var buf bytes.Buffer
	if err := r.t.Execute(&buf, struct{ Name string }{name}); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// simple reports whether Render concatenates.
func (r *Renderer) simple() bool { return r.parts != nil }
