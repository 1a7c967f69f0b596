package commands

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a subcommand's flags in front of its positional arguments, so
// `qctl work redis --queue=high` means what it does in `php artisan queue:work redis --queue=high`.
// urfave/cli v2 stops reading flags at the first positional argument and would otherwise take
// `--queue=high` for a second connection name. Everything after `--` is left as it is.
//
// A global flag given after the subcommand (`qctl work --config prod.toml`), which urfave/cli
// v2 would refuse, moves in front of the subcommand, unless the subcommand has a flag of the
// same name.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// Skip the global flags to find the subcommand.
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		if takesValue(app.Flags, args[i]) {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	var global, flags, positional []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			positional = append(positional, rest[j:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		if !hasFlag(cmd.Flags, a) && hasFlag(app.Flags, a) {
			global = append(global, a)
			if takesValue(app.Flags, a) && j+1 < len(rest) {
				j++
				global = append(global, rest[j])
			}
			continue
		}
		flags = append(flags, a)
		if takesValue(cmd.Flags, a) && j+1 < len(rest) {
			j++
			flags = append(flags, rest[j])
		}
	}
	out := append([]string{}, args[:i]...)
	out = append(out, global...)
	out = append(out, args[i])
	out = append(out, flags...)
	if len(positional) > 0 && positional[0] != "--" {
		out = append(out, "--")
	}
	return append(out, positional...)
}

// flagName is arg's flag name: without dashes and without an "=value".
func flagName(arg string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name
}

// hasFlag reports whether arg names one of flags.
func hasFlag(flags []cli.Flag, arg string) bool {
	name := flagName(arg)
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// takesValue reports whether arg is a flag in flags that reads the next argument as its value.
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); isBool {
				return false
			}
			return true
		}
	}
	return false
}
