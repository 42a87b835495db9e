package main

import (
	"slices"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

// TestREADMEReferenceHasEveryCommand: the README's command reference is
// the CLI's help, but only of the commands listed in commandNames: state
// export and state import (their flags, what they refuse) were left out.
// Every command the help lists is in the reference.
func TestREADMEReferenceHasEveryCommand(t *testing.T) {
	var walk func(prefix string, cmds []*kingpin.CmdModel)
	walk = func(prefix string, cmds []*kingpin.CmdModel) {
		for _, c := range cmds {
			name := prefix + c.Name
			if c.Hidden || name == "help" {
				continue
			}
			if len(c.Commands) > 0 {
				walk(name+" ", c.Commands)
				continue
			}
			if !slices.Contains(commandNames, name) {
				t.Errorf("command %q is not in the README's command reference (commandNames)", name)
			}
		}
	}
	walk("", newCLI(nil, nil).app.Model().Commands)
}
