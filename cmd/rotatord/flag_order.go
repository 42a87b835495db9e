package main

import (
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// flagsAfterCommand moves the flags written before the command after it:
// "rotatord --config.file F once" is read as "rotatord once --config.file
// F". The flags are each command's own (their defaults differ: dev logs
// for the console), so kingpin knows them only after the command's name
// and answered "unknown long flag '--config.file'" for a flag that exists.
//
// Only a run of flags every command line would read the same way is
// moved: each one a flag of some command, with its value when it takes
// one, and then a command (for state, maybe another such run, then its
// subcommand: "rotatord state --config.file F export"). Anything
// else (an application flag such as --help or --version, an unknown
// flag, "--", no command) leaves args as they are, for kingpin to read
// or refuse. A flag the command does not have is then kingpin's usage
// error, which names that command.
func flagsAfterCommand(app *kingpin.Application, args []string) []string {
	model := app.Model()
	var moved, path []string
	cmds := model.Commands
	i := 0
	for {
		// A run of flags, then a command; for state, again a run of
		// flags ("rotatord state --config.file F export"), then the
		// subcommand.
		run, next, ok := commandFlags(model, args, i)
		if !ok {
			return args
		}
		moved, i = append(moved, run...), next
		if i >= len(args) {
			return args
		}
		cmd := findCommand(cmds, args[i])
		if cmd == nil || cmd.Name == "help" {
			return args
		}
		path = append(path, args[i])
		i++
		if len(cmd.Commands) == 0 {
			break
		}
		cmds = cmd.Commands
	}
	if len(moved) == 0 {
		return args
	}
	out := make([]string, 0, len(args))
	out = append(out, path...)
	out = append(out, moved...)
	return append(out, args[i:]...)
}

// commandFlags reads the run of command flags (with their values) that
// starts at args[i] and returns it and where it ends; not ok when the run
// holds anything else (an application flag, an unknown flag, a flag
// missing its value), which leaves the command line to kingpin.
func commandFlags(model *kingpin.ApplicationModel, args []string, i int) (run []string, next int, ok bool) {
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" && args[i] != "--" {
		if appFlag(model.Flags, args[i]) {
			return nil, 0, false
		}
		takesValue, known := commandFlag(model.Commands, args[i])
		if !known {
			return nil, 0, false
		}
		run = append(run, args[i])
		if takesValue {
			if i+1 >= len(args) {
				return nil, 0, false
			}
			run = append(run, args[i+1])
			i++
		}
		i++
	}
	return run, i, true
}

// commandFlag says whether arg is a flag of some command (or subcommand)
// and whether the next argument is its value: a flag that takes one,
// written without "=" (or, for a short flag, without the value attached).
func commandFlag(cmds []*kingpin.CmdModel, arg string) (takesValue, known bool) {
	for _, c := range cmds {
		for _, f := range c.Flags {
			switch {
			case strings.HasPrefix(arg, "--"):
				name, _, withValue := strings.Cut(arg[2:], "=")
				if name == f.Name {
					return !f.IsBoolFlag() && !withValue, true
				}
				if f.IsBoolFlag() && name == "no-"+f.Name && !withValue {
					return false, true
				}
			case f.Short != 0 && len(arg) >= 2 && arg[1] == byte(f.Short):
				return !f.IsBoolFlag() && len(arg) == 2, true
			}
		}
		if takesValue, known := commandFlag(c.Commands, arg); known {
			return takesValue, known
		}
	}
	return false, false
}

// appFlag says whether arg is one of the application's own flags
// (--help, --version, --completion-script-bash...), which kingpin reads
// wherever they stand.
func appFlag(flags []*kingpin.FlagModel, arg string) bool {
	for _, f := range flags {
		name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if (strings.HasPrefix(arg, "--") && (name == f.Name || name == "no-"+f.Name)) ||
			(f.Short != 0 && !strings.HasPrefix(arg, "--") && len(arg) >= 2 && arg[1] == byte(f.Short)) {
			return true
		}
	}
	return false
}

func findCommand(cmds []*kingpin.CmdModel, name string) *kingpin.CmdModel {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
	}
	return nil
}
