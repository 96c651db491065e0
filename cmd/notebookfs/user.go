package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

// defaultOrgRole is the role of --org ORG without :ROLE.
const defaultOrgRole = local.RoleReadWrite

// userTimeout bounds one user command (the store may wait for a lock).
const userTimeout = time.Minute

// userCommand is "user" and its subcommands, which manage the store that
// 'notebookfs serve' serves.
func userCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user add|token --data DIR NAME",
		Short: "add a user of a served store, or issue a token",
		Long: `Users, organizations and tokens of the store that 'notebookfs serve' serves.
The token is printed once, alone on stdout; only its hash is stored.`,
		Example: "  notebookfs user add --data /tmp/nb --org acme:owner alice > alice.token",
		Args:    cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{"want a subcommand: add or token"}
			}
			return usageError{fmt.Sprintf("unknown subcommand %q (want add or token)", args[0])}
		},
	}
	var orgs orgFlag
	cmd.AddCommand(
		userVerb("add --data DIR [--org ORG[:ROLE]]... NAME", "create user NAME, print a new token",
			`Creates user NAME and prints a new token for it. --org makes NAME a member
of ORG (created if missing) with ROLE: owner, admin, read_write_delete,
read_write (the default) or read_only.`,
			"  notebookfs user add --data /tmp/nb --org acme:owner alice > alice.token",
			func(set *pflag.FlagSet) {
				set.Var(&orgs, "org", "make the user a member of `ORG[:ROLE]` (repeatable; ORG is created if missing)")
			}, func(dir, name string) error { return runUserAdd(dir, name, orgs) }),
		userVerb("token --data DIR NAME", "print another new token for NAME",
			"Issues another token for an existing user and prints it.",
			"  notebookfs user token --data /tmp/nb alice > alice.token",
			nil, runUserToken),
	)
	return cmd
}

// orgFlag collects repeated --org ORG[:ROLE].
type orgFlag []orgRole

type orgRole struct{ org, role string }

func (f *orgFlag) String() string {
	var parts []string
	for _, o := range *f {
		parts = append(parts, o.org+":"+o.role)
	}
	return strings.Join(parts, ",")
}

func (f *orgFlag) Type() string { return "ORG[:ROLE]" }

func (f *orgFlag) Set(v string) error {
	org, role, found := strings.Cut(v, ":")
	if !found {
		role = defaultOrgRole
	}
	if err := remote.ValidNamespace(org); err != nil || org == remote.PublicNamespace {
		return fmt.Errorf("organization %q: not a valid organization name", org)
	}
	switch role {
	case local.RoleOwner, local.RoleAdmin, local.RoleReadWriteDelete, local.RoleReadWrite, local.RoleReadOnly:
	default:
		return fmt.Errorf("role %q: want owner, admin, read_write_delete, read_write or read_only", role)
	}
	*f = append(*f, orgRole{org, role})
	return nil
}

// userVerb is a user subcommand: --data DIR, the flags extra adds, and
// exactly one user NAME, which run gets.
func userVerb(use, short, long, example string, extra func(*pflag.FlagSet), run func(dir, name string) error) *cobra.Command {
	var data string
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   use, Short: short, Long: long, Example: example,
		Args: func(_ *cobra.Command, pos []string) error {
			switch {
			case data == "":
				return usageError{"--data DIR is required"}
			case len(pos) != 1:
				return usageError{"want exactly one user NAME"}
			}
			if err := remote.ValidNamespace(pos[0]); err != nil {
				return usageError{fmt.Sprintf("user name %q: letters, digits, '_', '.' and '-', at most 63", pos[0])}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, pos []string) error { return run(data, pos[0]) },
	}
	cmd.Flags().StringVar(&data, "data", "", "directory of the store (created if missing; required)")
	if extra != nil {
		extra(cmd.Flags())
	}
	completeCommon(cmd)
	return cmd
}

func runUserAdd(dir, name string, orgs orgFlag) error {
	store, err := local.Open(dir, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), userTimeout)
	defer cancel()
	if err := store.AddUser(ctx, name); err != nil {
		if errors.Is(err, remote.ErrExist) {
			return fmt.Errorf("%w (for another token of an existing user: notebookfs user token --data %s %s)", err, dir, name)
		}
		return err
	}
	for _, o := range orgs {
		if err := store.AddOrg(ctx, o.org); err != nil && !errors.Is(err, remote.ErrExist) {
			return err
		}
		if err := store.AddMember(ctx, o.org, name, o.role); err != nil {
			if errors.Is(err, remote.ErrNotFound) {
				return fmt.Errorf("%q is a user, not an organization: %w", o.org, err)
			}
			return err
		}
	}
	return printToken(ctx, store, name)
}

func runUserToken(dir, name string) error {
	store, err := local.Open(dir, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), userTimeout)
	defer cancel()
	return printToken(ctx, store, name)
}

// printToken issues a token and prints it alone on stdout.
func printToken(ctx context.Context, store *local.Store, user string) error {
	tok, err := store.NewToken(ctx, user)
	if err != nil {
		return err
	}
	_, err = fmt.Println(tok)
	return err
}
