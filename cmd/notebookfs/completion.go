package main

// Shell completion: cobra writes the bash, zsh and fish scripts, which ask
// the binary itself ("notebookfs __complete ...") for the candidates; these
// functions supply the ones flags and arguments have.

import (
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func completionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "print a bash, zsh or fish completion script",
		Long: `Prints the completion script of a shell. It completes commands, flags,
-o options, log levels, directories and tiledb:// URIs; bash needs the
bash-completion package.`,
		Example: `  # bash
  notebookfs completion bash > ~/.local/share/bash-completion/completions/notebookfs
  source <(notebookfs completion bash)   # this shell only
  # zsh (the macOS default): a directory on $fpath, then a new shell
  notebookfs completion zsh > "${fpath[1]}/_notebookfs"
  # fish
  notebookfs completion fish > ~/.config/fish/completions/notebookfs.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{"want one shell: bash, zsh or fish"}
			}
			if !slices.Contains(cmd.ValidArgs, args[0]) {
				return usageError{"shell " + args[0] + ": want bash, zsh or fish"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(os.Stdout, true)
			case "zsh":
				return root.GenZshCompletion(os.Stdout)
			}
			return root.GenFishCompletion(os.Stdout, true)
		},
	}
}

// mountOptionNames are the -o options offered (those taking a value end
// in "=").
func mountOptionNames() []string {
	names := []string{"daemon", "foreground"}
	for name, m := range mountOptionFlags {
		if m.value == "" {
			name += "="
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// fixed completes with a fixed list.
func fixed(words ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp)
}

// completeCommon registers the completions of the flags cmd has among the
// shared ones.
func completeCommon(cmd *cobra.Command) {
	dirs := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	comps := map[string]cobra.CompletionFunc{
		"log-level":   fixed("trace", "debug", "info", "warn", "error"),
		"log-format":  fixed("text", "json"),
		"store":       dirs,
		"cache-dir":   dirs,
		"data":        dirs,
		"actions":     fixed("read", "read,write"),
		"on-conflict": fixed("copy", "overwrite"),
		"options": func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			// -o ro,cache_size=: complete the last of the list.
			done := ""
			if i := strings.LastIndex(toComplete, ","); i >= 0 {
				done = toComplete[:i+1]
			}
			var out []string
			for _, n := range mountOptionNames() {
				out = append(out, done+n)
			}
			return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
		},
	}
	for name, f := range comps {
		if cmd.Flags().Lookup(name) != nil {
			cmd.RegisterFlagCompletionFunc(name, f)
		}
	}
}

// uriArg completes positional argument i, a notebook URI, with
// "tiledb://"; the others are files.
func uriArg(i int) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) != i {
			return nil, cobra.ShellCompDirectiveDefault
		}
		if strings.HasPrefix("tiledb://", toComplete) {
			return []string{"tiledb://"}, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// categoryArg completes ls's first argument with the categories.
func categoryArg(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"owned", "shared", "public"}, cobra.ShellCompDirectiveNoFileComp
}

// completeDirs offers directories (mount points).
func completeDirs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}
