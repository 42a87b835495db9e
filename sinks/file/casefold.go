package file

import (
	"path/filepath"
	"strings"
	"text/template/parse"
)

// FoldsCase tells whether directory dir (the directory of one of the
// sink's targets, as rendered) looks names up without regard to case, so
// that "ci-RUNNER.env" there is "ci-runner.env". It is true when that
// cannot be told: the directory does not exist (yet), cannot be opened
// as a write would open it, or is on a file system rotatord cannot
// classify (dirFoldsCase). Each call inspects the directory: the engine
// asks once per directory per pass.
func (s *Sink) FoldsCase(dir string) bool { return dirFoldsCase(dir) }

// LiteralDir is the deepest directory that the path template names in
// its leading literal text ("/srv/creds" for "/srv/creds/{{.Name}}.env"
// and for "/srv/creds/ci-{{.Name}}/env"), "/" when it starts with an
// action. Every name's target lies below it, reached through the same
// names down to it: whether a directory above it folds case does not
// matter for telling two names' targets of this sink apart (the engine
// stops at the directory above every file sink's literal one: two sinks'
// literal directories may differ in case).
func (s *Sink) LiteralDir() string {
	if s.path.Tree == nil || s.path.Tree.Root == nil || len(s.path.Tree.Root.Nodes) == 0 {
		return "/"
	}
	text, ok := s.path.Tree.Root.Nodes[0].(*parse.TextNode)
	if !ok {
		return "/"
	}
	lit := string(text.Text)
	if len(s.path.Tree.Root.Nodes) == 1 {
		// No action: the path is literal; its directory is the same
		// for every name.
		return filepath.Dir(filepath.Clean(lit))
	}
	i := strings.LastIndexByte(lit, '/')
	if i < 0 || !strings.HasPrefix(lit, "/") {
		return "/"
	}
	return filepath.Clean(lit[:i+1])
}
