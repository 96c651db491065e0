package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set by the release build:
//
//	go build -trimpath -ldflags "-s -w -X main.version=1.2.3" ./cmd/notebookfs
var version string

// versionString is the release version, else what the Go toolchain
// recorded: a module version (go install) or the commit of a checkout.
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	switch {
	case rev == "":
		return "dev"
	case dirty:
		return "dev-" + rev + "-dirty"
	}
	return "dev-" + rev
}

// versionLine is what --version prints: version, Go version, platform.
func versionLine() string {
	return fmt.Sprintf("notebookfs %s %s %s/%s", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [flags]",
		Short: "print the version, the Go version and the platform",
		Long: `Prints the version of notebookfs, the Go version it was built with, and
its platform, as --version does.`,
		Example: "  notebookfs version\n  notebookfs version --json",
		Args:    positionals(0, 0),
		RunE: func(*cobra.Command, []string) error {
			if asJSON {
				return printJSON(os.Stdout, map[string]string{
					"version": versionString(), "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
				})
			}
			_, err := fmt.Println(versionLine())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "machine-readable JSON output on stdout")
	return cmd
}
