package main

// The command tree (cobra, with pflag's GNU-style flags), its help
// template, and the two old command-line forms still accepted: Go-style
// single-dash long flags (-metadata-ttl 1s) and mount.fuse3's
// "notebookfs SOURCE MOUNTPOINT -o OPTIONS".

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newRootCommand is the whole command line. Every verb is registered here,
// in the order of the help.
func newRootCommand() *cobra.Command {
	cobra.EnableCommandSorting = false // the help lists them as registered
	root := &cobra.Command{
		Use:   "notebookfs",
		Short: "TileDB Cloud notebooks as a local folder",
		Long: `notebookfs: TileDB Cloud notebooks as a local folder of .ipynb files.

URI is tiledb://NAMESPACE/NAME (no .ipynb), or tiledb://NAMESPACE/<uuid>.
The notebook verbs, login, whoami and doctor take --json, --log-level and
--log-format, and the backend flags --remote URL / --store DIR as mount
does. Run 'notebookfs COMMAND --help' for a command's flags and examples.`,
		Version: versionLine(),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
			}
			return usageError{msg}
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(os.Stderr)
			cmd.Help()
			return errUsageShown
		},
		SilenceErrors:              true,
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
	}
	root.AddGroup(
		&cobra.Group{ID: "mount", Title: "Mounting:"},
		&cobra.Group{ID: "notebooks", Title: "Notebooks, without a mount:"},
		&cobra.Group{ID: "setup", Title: "Login and checks:"},
		&cobra.Group{ID: "test", Title: "A local TileDB Cloud API (for tests):"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("mount", mountCommand(), unmountCommand(), statusCommand())
	add("notebooks", uploadCommand(), downloadCommand(), lsCommand(), versionsCommand(), renameCommand(), rmCommand(),
		shareCommand(), unshareCommand(), sharedWithCommand())
	add("setup", loginCommand(), logoutCommand(), whoamiCommand(), doctorCommand())
	add("test", serveCommand(), userCommand())
	root.AddCommand(completionCommand(), versionCommand())
	root.CompletionOptions.DisableDefaultCmd = true // ours has examples and no powershell
	root.InitDefaultHelpCmd()
	if h, _, err := root.Find([]string{"help"}); err == nil && h != root {
		h.Short = "help about a command"
	}

	root.SetVersionTemplate("{{.Version}}\n")
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate("{{.UsageString}}")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	return root
}

// usageTemplate is every command's help: the synopsis, the text, the
// examples, the flags in GNU style, and the exit codes.
const usageTemplate = `Usage: {{if .HasAvailableSubCommands}}{{.CommandPath}} COMMAND [flags]{{else}}{{.UseLine}}{{end}}
{{with .Long}}
{{trimTrailingWhitespaces .}}
{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{range $group := .Groups}}
{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) .IsAvailableCommand)}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}
{{end}}{{if not .AllChildCommandsHaveGroup}}
{{if .Groups}}Other commands:{{else}}Commands:{{end}}{{range $cmds}}{{if (and (eq .GroupID "") (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}
{{end}}{{end}}{{if .HasExample}}
Examples:
{{.Example}}
{{end}}{{if .HasAvailableLocalFlags}}
Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}
{{end}}
` + exitCodesHelp

// errUsageShown ends a command whose usage is already printed (exit 2).
var errUsageShown = usageError{""}

// positionals checks the number of positional arguments (max < 0: any).
func positionals(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usageError{"missing arguments"}
		case max >= 0 && len(args) > max:
			return usageError{fmt.Sprintf("unexpected argument %q", args[max])}
		}
		return nil
	}
}

// newCommand is a verb: use is its synopsis after "notebookfs ", short
// its line in the command list, long and example its help.
func newCommand(use, short, long, example string, args cobra.PositionalArgs, run func(cmd *cobra.Command, pos []string) error) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    strings.TrimSpace(long),
		Example: strings.TrimRight(example, "\n"),
		Args:    args,
		RunE:    run,
	}
}

// compatArgs rewrites the old forms of a command line into the ones cobra
// parses: "notebookfs SOURCE MOUNTPOINT ..." (as mount.fuse3 runs an fstab
// line) becomes "notebookfs mount SOURCE MOUNTPOINT ...", and a long flag
// given with one dash (Go's flag package took -metadata-ttl) gets two.
// Flag values and everything after "--" are left alone.
func compatArgs(root *cobra.Command, args []string) []string {
	if len(args) == 0 || strings.HasPrefix(args[0], cobra.ShellCompRequestCmd) {
		return args
	}
	if subcommand(root, args[0]) == nil && isMountSource(args[0]) && len(args) >= 2 {
		args = append([]string{"mount"}, args...)
	}
	cmd, i := root, 0
	for ; i < len(args); i++ {
		sub := subcommand(cmd, args[i])
		if sub == nil {
			break
		}
		cmd = sub
	}
	out := append([]string(nil), args[:i]...)
	flags := cmd.Flags()
	for rest := args[i:]; len(rest) > 0; rest = rest[1:] {
		a := rest[0]
		if a == "--" {
			return append(out, rest...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && (flags.Lookup(name) != nil || name == "help" || name == "version") {
				a = "-" + a
			}
		}
		out = append(out, a)
		if takesNextArg(flags, a) && len(rest) > 1 {
			out = append(out, rest[1])
			rest = rest[1:]
		}
	}
	return out
}

// subcommand is cmd's child named (or aliased) name, or nil.
func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

// takesNextArg reports whether a (--flag or -f) is a flag whose value is
// the next argument.
func takesNextArg(flags *pflag.FlagSet, a string) bool {
	var f *pflag.Flag
	switch {
	case strings.HasPrefix(a, "--") && !strings.Contains(a, "="):
		f = flags.Lookup(a[2:])
	case len(a) == 2 && a[0] == '-':
		f = flags.ShorthandLookup(a[1:])
	}
	return f != nil && f.NoOptDefVal == ""
}
